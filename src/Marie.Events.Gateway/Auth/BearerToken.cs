namespace Marie.Events.Gateway.Auth;

/// <summary>Reads <c>Bearer &lt;key&gt;</c> from an <c>authorization</c> value (scheme case-insensitive).</summary>
internal static class BearerToken
{
    private const string Scheme = "Bearer";

    /// <summary>The token, or null when the value is missing or not a bearer credential.</summary>
    public static string? Parse(string? authorization)
    {
        if (authorization is null
            || authorization.Length <= Scheme.Length
            || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            || authorization[Scheme.Length] != ' ')
        {
            return null;
        }

        var token = authorization[(Scheme.Length + 1)..].Trim();
        return token.Length == 0 ? null : token;
    }
}
