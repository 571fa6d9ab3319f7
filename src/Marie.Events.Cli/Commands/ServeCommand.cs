using System.CommandLine;
using Marie.Events.Gateway;

namespace Marie.Events.Cli.Commands;

/// <summary><c>serve [--config FILE]</c>: the gateway host itself, as
/// <c>dotnet run --project src/Marie.Events.Gateway</c>.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config", "-c")
        {
            Description = "The gateway configuration file (YAML; replaces the embedded default). Default: "
                + "MARIE_EVENTS_CONFIG, else the embedded config/gateway.yml.",
            HelpName = "FILE",
        };
        var command = new Command("serve",
            """
            Run the gateway: gRPC on port 51001, admin API on 51002 (the embedded default configuration).
            Ctrl-C stops it.
            On a first run without auth.keys it prints development keys once (see docs/configuration.md).
            """)
        {
            config,
        };
        command.WithExamples(
            "marie-events serve",
            "marie-events serve --config /etc/marie/gateway.yml");
        command.SetAction(async (parse, _) =>
        {
            var file = parse.GetValue(config);
            string[] args = file is null ? [] : ["--config", file];
            return await GatewayHost.RunAsync(args).ConfigureAwait(false);
        });
        return command;
    }
}
