using System.Security.Cryptography;

namespace Marie.Events.Gateway.Auth;

/// <summary>The Marie API key format: 58 characters, <c>mau_</c> or <c>mas_</c> then printable ASCII.</summary>
internal static class ApiKeyFormat
{
    /// <summary>Length of a key, prefix included (Marie-AI's format).</summary>
    public const int Length = 58;

    /// <summary>Prefix of a user key.</summary>
    public const string UserPrefix = "mau_";

    /// <summary>Prefix of a service key (the development keys use it).</summary>
    public const string ServicePrefix = "mas_";

    /// <summary>Characters of generated keys (base62).</summary>
    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>Printable ASCII range bounds for the part after the prefix ('!' to '~': no space, no
    /// control).</summary>
    private const char FirstPrintable = '!';
    private const char LastPrintable = '~';

    /// <summary>True when <paramref name="key"/> has the right length, prefix and characters.</summary>
    public static bool IsWellFormed([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? key)
    {
        if (key is null || key.Length != Length)
        {
            return false;
        }

        if (!key.StartsWith(UserPrefix, StringComparison.Ordinal)
            && !key.StartsWith(ServicePrefix, StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in key.AsSpan(UserPrefix.Length))
        {
            if (c is < FirstPrintable or > LastPrintable)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A new key: <paramref name="prefix"/> + base62 characters from a CSPRNG (unbiased).</summary>
    public static string Generate(string prefix = ServicePrefix)
    {
        var body = RandomNumberGenerator.GetItems<char>(Base62, Length - prefix.Length);
        return prefix + new string(body);
    }

    /// <summary>Why a configured key is malformed, without showing it.</summary>
    public static string DescribeProblem(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return "must not be empty";
        }

        var prefixed = key.StartsWith(UserPrefix, StringComparison.Ordinal)
            || key.StartsWith(ServicePrefix, StringComparison.Ordinal);
        if (!prefixed)
        {
            return $"must start with {UserPrefix} or {ServicePrefix}";
        }

        return key.Length != Length
            ? $"must be {Length} characters long (got {key.Length})"
            : "must contain only printable ASCII characters, no spaces";
    }
}
