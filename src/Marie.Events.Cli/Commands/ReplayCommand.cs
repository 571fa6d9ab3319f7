using System.CommandLine;
using System.Globalization;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Commands;

/// <summary><c>replay --topic T [--from N] [--max M]</c>: what a topic's replay ring holds.</summary>
internal static class ReplayCommand
{
    public static Command Create(CliContext context, CommonOptions common)
    {
        var topic = new Option<string>("--topic", "-t")
        {
            Description = "The topic.",
            HelpName = "TOPIC",
            Required = true,
        };
        var from = new Option<long>("--from")
        {
            Description = "Events after this sequence number. Default: 0 (from the oldest held).",
            HelpName = "N",
        };
        var max = new Option<int>("--max")
        {
            Description = "At most M events. Default: 0 = the gateway's default (100).",
            HelpName = "M",
        };
        var json = new Option<bool>("--json")
        {
            Description = "One JSON object a line (the EventEnvelope), and no footer.",
        };
        var command = new Command("replay",
            """
            Show the events a topic's replay ring still holds, oldest first, and the topic's head.
            """)
        {
            topic, from, max, json,
        };
        common.AddTo(command);
        command.WithExamples(
            "marie-events replay --topic tenant-a",
            "marie-events replay --topic tenant-a --from 120 --max 50 --json");
        command.SetAction(async (parse, ct) =>
        {
            var request = new ReplayRequest
            {
                Topic = parse.GetValue(topic)!,
                FromSequenceNum = parse.GetValue(from),
                MaxEvents = parse.GetValue(max),
            };
            if (request.FromSequenceNum < 0 || request.MaxEvents < 0)
            {
                throw new CliException("--from and --max must be 0 or more", ExitCodes.BadInput);
            }

            var address = common.GetAddress(parse);
            var key = common.RequireApiKey(parse);
            context.Target = address;
            using var connection = new GatewayConnection(address, key);
            var reply = await connection.ReplayAsync(request, ct).ConfigureAwait(false);
            var asJson = parse.GetValue(json);
            foreach (var envelope in reply.Events)
            {
                await context.Out.WriteLineAsync(asJson ? EventFormat.ToJson(envelope) : EventFormat.ToLine(envelope))
                    .ConfigureAwait(false);
            }

            if (!asJson)
            {
                var more = reply.HasMore && reply.Events.Count > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"; more: --from {reply.Events[^1].SequenceNum}")
                    : "";
                await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{reply.Events.Count} events of {request.Topic}, head "
                        + $"{reply.TopicHead}{more}")).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
