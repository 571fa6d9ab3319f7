using System.CommandLine;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Marie.Events.Gateway.Auth;
using Marie.Events.Protocol;
using Spectre.Console;

namespace Marie.Events.Cli.Commands;

/// <summary><c>keys create --name N --roles R [--topics T]</c>: a new API key, printed once, with the configuration
/// entry that holds only its SHA-256 hash. <c>keys list</c>, <c>keys disable NAME</c>, <c>keys enable NAME</c>: the
/// gateway's keys over <c>AdminService</c> on the gRPC address (an admin key).</summary>
internal static class KeysCommand
{
    public static Command Create(CliContext context, CommonOptions common)
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
            Description = "Topics the key is limited to (tenant isolation); several with commas or "
                + "spaces. None: not limited.",
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
                throw new CliException(
                    $"--name must be letters, digits, '.', '_' or '-' (got '{keyName}')",
                    ExitCodes.BadInput);
            }

            var keyRoles = Split(parse.GetValue(roles)).Select(r => r.ToLowerInvariant()).Distinct().ToList();
            var bad = keyRoles.Count == 0 ? "none" : keyRoles.FirstOrDefault(r => !ApiKeyFactory.RoleNames.Contains(r));
            if (bad is not null)
            {
                throw new CliException(
                    $"--roles must be admin, publisher, subscriber or user (got '{bad}')",
                    ExitCodes.BadInput);
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
        return new Command("keys", "Manage API keys.")
        {
            create,
            CreateList(context, common),
            CreateSetDisabled(context, common, disable: true),
            CreateSetDisabled(context, common, disable: false),
        }.WithExamples(
            "marie-events keys create --name billing-service --roles publisher",
            "marie-events keys list --address http://gw:51001",
            "marie-events keys disable billing-service");
    }

    private static Command CreateList(CliContext context, CommonOptions common)
    {
        var json = new Option<bool>("--json") { Description = "One JSON object a key, for scripts." };
        var list = new Command("list",
            """
            List the gateway's keys (AdminService/ListKeys on the gRPC address; an admin key): name, fingerprint,
            roles, topics, state and open streams. Never a key itself.
            """)
        {
            json,
        };
        common.AddTo(list);
        list.WithExamples("marie-events keys list", "marie-events keys list --address http://gw:51001 --json");
        list.SetAction(async (parse, ct) =>
        {
            var key = common.RequireApiKey(parse);
            var address = common.GetAddress(parse);
            context.Target = address;
            using var connection = new GatewayConnection(address, key);
            var response = await connection.Admin.ListKeysAsync(new ListKeysRequest(), connection.Unary(ct))
                .ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                foreach (var info in response.Keys)
                {
                    await context.Out.WriteLineAsync(JsonFormatter.Default.Format(info)).ConfigureAwait(false);
                }

                return ExitCodes.Ok;
            }

            var table = new Table()
                .AddColumn("name")
                .AddColumn("fingerprint")
                .AddColumn("roles")
                .AddColumn("topics")
                .AddColumn("state")
                .AddColumn(new TableColumn("streams").RightAligned());
            foreach (var info in response.Keys)
            {
                table.AddRow(
                    Markup.Escape(info.Name),
                    Markup.Escape(info.Fingerprint),
                    Markup.Escape(string.Join(", ", info.Roles)),
                    Markup.Escape(string.Join(", ", info.Topics)),
                    State(info),
                    info.OpenStreams.ToString(CultureInfo.InvariantCulture));
            }

            context.Console.Write(table);
            return ExitCodes.Ok;
        });
        return list;
    }

    private static Command CreateSetDisabled(CliContext context, CommonOptions common, bool disable)
    {
        var name = new Argument<string>("name") { Description = "The key's name (auth.keys[i].name)." };
        var command = new Command(disable ? "disable" : "enable",
            disable
                ? "Disable a key until the gateway restarts (AdminService/DisableKey; an admin key): its open streams "
                    + "end with UNAUTHENTICATED at once."
                : "Lift a run-time disable (AdminService/EnableKey; an admin key). A key the configuration "
                    + "disables stays disabled.")
        {
            name,
        };
        common.AddTo(command);
        command.WithExamples($"marie-events keys {command.Name} billing-service");
        command.SetAction(async (parse, ct) =>
        {
            var key = common.RequireApiKey(parse);
            var address = common.GetAddress(parse);
            context.Target = address;
            using var connection = new GatewayConnection(address, key);
            var request = new KeyStateRequest { Name = parse.GetValue(name)! };
            KeyStateResponse response;
            try
            {
                response = disable
                    ? await connection.Admin.DisableKeyAsync(request, connection.Unary(ct)).ConfigureAwait(false)
                    : await connection.Admin.EnableKeyAsync(request, connection.Unary(ct)).ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                throw new CliException($"the gateway has no key named '{request.Name}'");
            }

            var state = State(response.Key);
            await context.Out.WriteLineAsync(disable
                ? string.Create(
                    CultureInfo.InvariantCulture,
                    $"key '{response.Key.Name}' is {state}; {response.StreamsClosed} open streams closed")
                : $"key '{response.Key.Name}' is {state}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string State(AdminKeyInfo info) =>
        info.DisabledAtRunTime ? "disabled (run time)" : !info.Enabled ? "disabled (configuration)" : "enabled";

    private static List<string> Split(string[]? values) =>
        [.. (values ?? [])
            .SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct(StringComparer.Ordinal)];

    private static string Render(NewApiKey created) => new StringBuilder()
        .AppendLine(
            CultureInfo.InvariantCulture,
            $"New API key '{created.Name}' (shown this once; it is stored nowhere, only its hash below):")
        .AppendLine()
        .AppendLine(CultureInfo.InvariantCulture, $"  {created.ApiKey}")
        .AppendLine()
        .AppendLine("Add this entry under auth.keys in the gateway configuration:")
        .AppendLine()
        .Append(created.ConfigEntry)
        .AppendLine()
        .AppendLine(
            CultureInfo.InvariantCulture,
            $"Clients send it as: authorization: Bearer <key> (marie-events: --api-key or "
                + $"{CommonOptions.ApiKeyVariable}).")
        .ToString();
}
