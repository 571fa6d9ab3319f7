using System.CommandLine;
using Grpc.Core;
using Grpc.Health.V1;
using Spectre.Console;

namespace Marie.Events.Cli.Commands;

/// <summary><c>health</c>: <c>grpc.health.v1.Health/Check</c> for the gateway and its services.</summary>
internal static class HealthCommand
{
    private static readonly string[] Services =
    [
        "",
        "marieai.events.EventStreamService",
        "marieai.events.EventPublisherService",
    ];

    public static Command Create(CliContext context, CommonOptions common)
    {
        var command = new Command("health",
            """
            Check the gateway's health (no key needed): the gateway as a whole and each event service. Exits 0 when the
            gateway is SERVING, 1 otherwise.
            """);
        common.AddTo(command);
        command.WithExamples(
            "marie-events health",
            "marie-events health --address http://gw:51001");
        command.SetAction(async (parse, ct) =>
        {
            var address = common.GetAddress(parse);
            context.Target = address;
            using var connection = new GatewayConnection(address, apiKey: null);
            var table = new Table().AddColumn("service").AddColumn("status");
            var overall = HealthCheckResponse.Types.ServingStatus.Unknown;
            foreach (var service in Services)
            {
                string status;
                try
                {
                    var reply = await connection.Health.CheckAsync(
                        new HealthCheckRequest { Service = service },
                        connection.Unary(ct)).ConfigureAwait(false);
                    status = Name(reply.Status);
                    if (service.Length == 0)
                    {
                        overall = reply.Status;
                    }
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound && service.Length > 0)
                {
                    status = "SERVICE_UNKNOWN";
                }

                table.AddRow(service.Length == 0 ? "(gateway)" : service, status);
            }

            context.Console.Write(table);
            return overall == HealthCheckResponse.Types.ServingStatus.Serving ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static string Name(HealthCheckResponse.Types.ServingStatus status) =>
        CliErrors.UpperSnake(status.ToString());
}
