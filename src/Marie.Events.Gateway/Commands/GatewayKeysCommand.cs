using Marie.Events.Gateway.Auth;

namespace Marie.Events.Gateway.Commands;

/// <summary>
/// <c>Marie.Events.Gateway keys create --name N [--roles R,R] [--topics T,T] [--user]</c>: prints a new key once and
/// the <c>auth.keys</c> entry that holds only its hash. The same as <c>marie-events keys create</c>, for hosts that
/// have only the gateway.
/// </summary>
internal static class GatewayKeysCommand
{
    private const string Usage = """
        usage: Marie.Events.Gateway keys create --name NAME [--roles ROLE[,ROLE]] [--topics TOPIC[,TOPIC]] [--user]
          --name     the key's name (its topic, shown in logs)
          --roles    admin, publisher, subscriber or user (= subscriber); default subscriber
          --topics   topics it may subscribe and publish to ("*" = all); default its own topic
          --user     a user key (mau_) instead of a service key (mas_)
        example: Marie.Events.Gateway keys create --name billing --roles publisher --topics billing,invoices
        """;

    /// <summary>True when <paramref name="args"/> is a <c>keys</c> command rather than a gateway run.</summary>
    public static bool Matches(IReadOnlyList<string> args) => args is ["keys", ..];

    /// <summary>Runs the command. Returns the exit code: 0, or 2 with one line on <paramref name="error"/>.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (args is not ["keys", "create", ..])
        {
            error.WriteLine(Usage);
            return 2;
        }

        string? name = null;
        List<string> roles = [], topics = [];
        var prefix = ApiKeyFormat.ServicePrefix;
        for (var i = 2; i < args.Count; i++)
        {
            var value = i + 1 < args.Count ? args[i + 1] : null;
            switch (args[i])
            {
                case "--name" when value is not null:
                    name = value;
                    i++;
                    break;
                case "--roles" when value is not null:
                    roles.AddRange(
                        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    i++;
                    break;
                case "--topics" when value is not null:
                    topics.AddRange(
                        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    i++;
                    break;
                case "--user":
                    prefix = ApiKeyFormat.UserPrefix;
                    break;
                default:
                    error.WriteLine($"marie-events-gateway: keys create: unexpected '{args[i]}'");
                    error.WriteLine(Usage);
                    return 2;
            }
        }

        if (name is null)
        {
            error.WriteLine("marie-events-gateway: keys create: --name is required");
            return 2;
        }

        NewApiKey key;
        try
        {
            key = ApiKeyFactory.Create(name, roles, topics, prefix);
        }
        catch (ArgumentException ex)
        {
            error.WriteLine($"marie-events-gateway: keys create: {ex.Message}");
            return 2;
        }

        output.WriteLine($"New API key '{key.Name}' (shown this once; the gateway keeps only its SHA-256):");
        output.WriteLine();
        output.WriteLine($"  {key.ApiKey}");
        output.WriteLine();
        output.WriteLine(
            "Add this entry under auth.keys in the gateway's configuration (it is applied without a restart):");
        output.WriteLine();
        output.Write(key.ConfigEntry);
        return 0;
    }
}
