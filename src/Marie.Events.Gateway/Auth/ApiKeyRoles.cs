namespace Marie.Events.Gateway.Auth;

/// <summary>What a key may do. <c>user</c> in configuration is read as <see cref="Subscriber"/>.</summary>
[Flags]
internal enum ApiKeyRoles
{
    None = 0,
    Subscriber = 1,
    Publisher = 2,
    Admin = 4,
}

internal static class ApiKeyRoleNames
{
    /// <summary>The role names accepted in <c>auth.keys[i].roles</c>, for messages.</summary>
    public const string Accepted = "admin, publisher, subscriber or user";

    /// <summary>Parses one role name (case-insensitive).</summary>
    public static bool TryParse(string? name, out ApiKeyRoles role)
    {
        role = name?.Trim().ToUpperInvariant() switch
        {
            "ADMIN" => ApiKeyRoles.Admin,
            "PUBLISHER" => ApiKeyRoles.Publisher,
            "SUBSCRIBER" or "USER" => ApiKeyRoles.Subscriber,
            _ => ApiKeyRoles.None,
        };
        return role != ApiKeyRoles.None;
    }

    /// <summary>All the roles of a list; an empty list is <see cref="ApiKeyRoles.Subscriber"/>. Unknown names are
    /// rejected by configuration validation before this is called, and ignored here.</summary>
    public static ApiKeyRoles ParseAll(IEnumerable<string> names)
    {
        var roles = ApiKeyRoles.None;
        foreach (var name in names)
        {
            if (TryParse(name, out var role))
            {
                roles |= role;
            }
        }

        return roles == ApiKeyRoles.None ? ApiKeyRoles.Subscriber : roles;
    }

    /// <summary>The role names of <paramref name="roles"/>, for listings.</summary>
    public static IReadOnlyList<string> Describe(ApiKeyRoles roles)
    {
        var names = new List<string>();
        if ((roles & ApiKeyRoles.Admin) != 0) names.Add("admin");
        if ((roles & ApiKeyRoles.Publisher) != 0) names.Add("publisher");
        if ((roles & ApiKeyRoles.Subscriber) != 0) names.Add("subscriber");
        return names;
    }
}
