using System.CommandLine;
using System.Globalization;
using System.Text;
using Marie.Events.Gateway.Auth;

namespace Marie.Events.Cli.Commands;

/// <summary><c>keys create --name N --roles R [--topics T]</c>: a new API key, printed once, with the configuration
/// entry that holds only its SHA-256 hash.</summary>
internal static class KeysCommand
{

    public static Command Create(CliContext context)
    {
        var name = new Option<string>("--name", "-n")
        {
            Description = "The key's name, for logs and messages (letters, digits, '.', '_', '-').",
            HelpName = "NAME",
            Required = true,
        };
        var roles = new Option<string[]>("--roles", "-r")
        {
            Description = "Roles: admin, publisher, subscriber (user = subscriber); several with commas or spaces.",
            HelpName = "ROLE",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var topics = new Option<string[]>("--topics", "-t")
        {
            Description = "Topics the key is limited to (tenant isolation); several with commas or spaces. None: not limited.",
            HelpName = "TOPIC",
            AllowMultipleArgumentsPerToken = true,
        };
        var create = new Command("create",
            """
            Create an API key: 58 characters (mas_ + 54 random base62 characters from a cryptographic generator).
            The key is printed once and kept nowhere; the printed configuration entry holds only its SHA-256 hash
            (api_key_sha256), to paste under auth.keys in the gateway configuration.
            """)
        {
            name,
            roles,
            topics,
        };
        create.WithExamples(
            "marie-events keys create --name billing-service --roles publisher",
            "marie-events keys create --name tenant-a-reader --roles subscriber --topics tenant-a");
        create.SetAction(parse =>
        {
            var keyName = parse.GetValue(name)!.Trim();
            if (keyName.Length == 0 || !keyName.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                throw new CliException($"--name must be letters, digits, '.', '_' or '-' (got '{keyName}')", ExitCodes.BadInput);
            }

            var keyRoles = Split(parse.GetValue(roles)).Select(r => r.ToLowerInvariant()).Distinct().ToList();
            var bad = keyRoles.Count == 0 ? "none" : keyRoles.FirstOrDefault(r => !ApiKeyFactory.RoleNames.Contains(r));
            if (bad is not null)
            {
                throw new CliException($"--roles must be admin, publisher, subscriber or user (got '{bad}')", ExitCodes.BadInput);
            }

            NewApiKey created;
            try
            {
                created = ApiKeyFactory.Create(keyName, keyRoles, Split(parse.GetValue(topics)));
            }
            catch (ArgumentException ex)
            {
                throw new CliException($"keys create: {ex.Message}", ExitCodes.BadInput);
            }

            context.Out.Write(Render(created));
            return ExitCodes.Ok;
        });
        return new Command("keys", "Manage API keys.") { create }.WithExamples("marie-events keys create --name billing-service --roles publisher");
    }

    private static List<string> Split(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal)];

    private static string Render(NewApiKey created) => new StringBuilder()
        .AppendLine(CultureInfo.InvariantCulture, $"New API key '{created.Name}' (shown this once; it is stored nowhere, only its hash below):")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"  {created.ApiKey}")
        .AppendLine()
        .AppendLine("Add this entry under auth.keys in the gateway configuration:")
        .AppendLine()
        .Append(created.ConfigEntry)
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"Clients send it as: authorization: Bearer <key> (marie-events: --api-key or {CommonOptions.ApiKeyVariable}).")
        .ToString();
}
