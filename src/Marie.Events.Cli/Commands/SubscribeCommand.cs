using System.CommandLine;
using System.Globalization;
using Grpc.Core;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Commands;

/// <summary><c>subscribe</c>: a live tail of events, acknowledged as they are shown.</summary>
internal static class SubscribeCommand
{
    public static Command Create(CliContext context, CommonOptions common)
    {
        var topics = Multi("--topics", "Topics to follow ('*' = every topic the key may see). Default: *.", "TOPIC");
        var events = Multi("--events", "Event names: exact, or 'prefix.*'. Default: all.", "NAME");
        var jobids = Multi("--jobids", "Only events of these job ids.", "ID");
        var sources = Multi("--sources", "Only events from these sources (a trailing '*' is a prefix).", "SOURCE");
        var fromSeq = new Option<long?>("--from-seq")
        {
            Description = "Replay first: the events after sequence number N still held by the gateway, then live. Default: live only.",
            HelpName = "N",
        };
        var noAck = new Option<bool>("--no-ack") { Description = "Do not acknowledge (the gateway redelivers after its ack timeout)." };
        var json = new Option<bool>("--json") { Description = "One JSON object a line (the EventEnvelope, proto field names), for scripts." };
        var count = new Option<int?>("--count") { Description = "Stop after N events.", HelpName = "N" };
        var command = new Command("subscribe",
            """
            Follow events live, one line each, acknowledging each as it is shown (unless --no-ack). Ctrl-C ends it.
            """)
        {
            topics, events, jobids, sources, fromSeq, noAck, json, count,
        };
        common.AddTo(command);
        command.WithExamples(
            "marie-events subscribe --topics tenant-a",
            "marie-events subscribe --topics tenant-a tenant-b --events 'extract.*' --from-seq 0",
            "marie-events subscribe --json --count 10 > events.jsonl");
        command.SetAction(async (parse, ct) =>
        {
            var from = parse.GetValue(fromSeq);
            if (from < 0)
            {
                throw new CliException($"--from-seq must be 0 or more (got {from})", ExitCodes.BadInput);
            }

            var max = parse.GetValue(count);
            if (max < 1)
            {
                throw new CliException($"--count must be at least 1 (got {max})", ExitCodes.BadInput);
            }

            var request = new SubscribeRequest
            {
                // 12 hex characters (48 random bits): unique among one connection's subscriptions, short in logs.
                SubscriptionId = "cli-" + Guid.NewGuid().ToString("N")[..12],
                Topics = { Split(parse.GetValue(topics)) is { Count: > 0 } t ? t : ["*"] },
                Events = { Split(parse.GetValue(events)) },
                Filter = new FilterConfig { Jobids = { Split(parse.GetValue(jobids)) }, IncludeSources = { Split(parse.GetValue(sources)) } },
            };
            if (from is { } n)
            {
                request.LastSequenceNum = n;
            }

            var address = common.GetAddress(parse);
            var key = common.RequireApiKey(parse);
            context.Target = address;
            using var connection = new GatewayConnection(address, key);
            return await TailAsync(connection, request, !parse.GetValue(noAck), parse.GetValue(json), max, context, ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> TailAsync(GatewayConnection connection, SubscribeRequest request, bool ack, bool json, int? max, CliContext context, CancellationToken ct)
    {
        var received = 0;
        try
        {
            using var call = connection.Streams.StreamEvents(connection.Stream(ct));
            await call.RequestStream.WriteAsync(new ClientMessage { Subscribe = request }, ct).ConfigureAwait(false);
            while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
            {
                var message = call.ResponseStream.Current;
                switch (message.MessageCase)
                {
                    case ServerMessage.MessageOneofCase.SubscriptionConfirm:
                        var confirm = message.SubscriptionConfirm;
                        await context.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                            $"subscribed to {string.Join(", ", confirm.Topics)} (head {confirm.CurrentHead}); Ctrl-C to stop")).ConfigureAwait(false);
                        break;
                    case ServerMessage.MessageOneofCase.Event:
                        var envelope = message.Event;
                        await context.Out.WriteLineAsync(json ? EventFormat.ToJson(envelope) : EventFormat.ToLine(envelope)).ConfigureAwait(false);
                        await context.Out.FlushAsync(ct).ConfigureAwait(false);
                        received++;
                        if (ack)
                        {
                            await call.RequestStream.WriteAsync(new ClientMessage
                            {
                                Ack = new AckMessage { SubscriptionId = request.SubscriptionId, Individual = new IndividualAck { AckIds = { envelope.AckId } } },
                            }, ct).ConfigureAwait(false);
                        }

                        if (received == max)
                        {
                            await EndAsync(call, request.SubscriptionId, ct).ConfigureAwait(false);
                            return ExitCodes.Ok;
                        }

                        break;
                    case ServerMessage.MessageOneofCase.Error:
                        var error = message.Error;
                        var details = string.Join(", ", error.Details.Select(d => $"{d.Key}={d.Value}"));
                        var code = CliErrors.UpperSnake(error.Code.ToString());
                        var text = $"gateway: {code}: {error.Message}{(details.Length > 0 ? $" ({details})" : "")}";
                        if (error.Code is ErrorCode.ErrorInvalidRequest or ErrorCode.ErrorInvalidSubscription or ErrorCode.ErrorAuthenticationFailed)
                        {
                            throw new CliException(text);
                        }

                        await context.Error.WriteLineAsync(text).ConfigureAwait(false);
                        break;
                }
            }

            throw new CliException("the gateway ended the stream");
        }
        catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            // Ctrl-C: a clean end.
            await context.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"stopped after {received} events")).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }

    /// <summary>Unsubscribes and waits for the confirmation: the gateway handles a stream's messages in order, so
    /// every ack sent before it has then been applied (events arriving meanwhile are not shown, and not acked).</summary>
    private static async Task EndAsync(AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call, string subscriptionId, CancellationToken ct)
    {
        await call.RequestStream.WriteAsync(new ClientMessage { Unsubscribe = new UnsubscribeRequest { SubscriptionId = subscriptionId } }, ct).ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
        {
            if (call.ResponseStream.Current.MessageCase == ServerMessage.MessageOneofCase.UnsubscriptionConfirm)
            {
                return;
            }
        }
    }

    internal static Option<string[]> Multi(string name, string description, string helpName) => new(name)
    {
        Description = description + " Several with commas or spaces.",
        HelpName = helpName,
        AllowMultipleArgumentsPerToken = true,
    };

    internal static List<string> Split(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
}
