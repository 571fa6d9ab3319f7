using System.CommandLine;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Client;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Commands;

/// <summary><c>subscribe</c>: a live tail of events, acknowledged as they are shown.</summary>
internal static class SubscribeCommand
{
    /// <summary>Every topic the key may see.</summary>
    private const string AllTopics = "*";

    public static Command Create(CliContext context, CommonOptions common)
    {
        var topics = Multi("--topics", "Topics to follow ('*' = every topic the key may see). Default: *.", "TOPIC");
        var events = Multi("--events", "Event names: exact, or 'prefix.*'. Default: all.", "NAME");
        var jobids = Multi("--jobids", "Only events of these job ids.", "ID");
        var sources = Multi("--sources", "Only events from these sources (a trailing '*' is a prefix).", "SOURCE");
        var fromSeq = new Option<long?>("--from-seq")
        {
            Description = "Replay first: the events after sequence number N still held by the gateway, then "
                + "live. Default: live only.",
            HelpName = "N",
        };
        var noAck = new Option<bool>("--no-ack")
        {
            Description = "Do not acknowledge (the gateway redelivers after its ack timeout).",
        };
        var json = new Option<bool>("--json")
        {
            Description = "One JSON object a line (the EventEnvelope, proto field names), for scripts.",
        };
        var count = new Option<int?>("--count") { Description = "Stop after N events.", HelpName = "N" };
        var durable = new Option<string?>("--durable")
        {
            Description = "A durable subscription of this name (your key's): what is not acknowledged waits for the "
                + "next subscribe with the name, which gets exactly that first. See 'durables list'.",
            HelpName = "NAME",
        };
        var group = new Option<string?>("--group")
        {
            Description = "With --durable: a consumer group; subscribers with the same name and group share the "
                + "events, each to one of them.",
            HelpName = "NAME",
        };
        var command = new Command("subscribe",
            """
            Follow events live, one line each, acknowledging each as it is shown (unless --no-ack). A broken stream is
            reconnected, resuming each topic after the last event shown. Ctrl-C ends it.
            """)
        {
            topics, events, jobids, sources, fromSeq, noAck, json, count, durable, group,
        };
        common.AddTo(command);
        command.WithExamples(
            "marie-events subscribe --topics tenant-a",
            "marie-events subscribe --topics tenant-a tenant-b --events 'extract.*' --from-seq 0",
            "marie-events subscribe --json --count 10 > events.jsonl",
            "marie-events subscribe --topics tenant-a --durable worker --group pool");
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

            var durableName = parse.GetValue(durable);
            var groupName = parse.GetValue(group);
            if (durableName is { Length: 0 } || groupName is { Length: 0 })
            {
                throw new CliException("--durable and --group must not be empty", ExitCodes.BadInput);
            }

            if (groupName is not null && durableName is null)
            {
                throw new CliException("--group needs --durable (a consumer group shares a durable subscription)",
                    ExitCodes.BadInput);
            }

            var options = new SubscriptionOptions
            {
                // 12 hex characters (48 random bits): unique among one connection's subscriptions, short in logs.
                SubscriptionId = "cli-" + Guid.NewGuid().ToString("N")[..12],
                AckMode = parse.GetValue(noAck) ? AckMode.Manual : AckMode.Auto,
                DurableName = durableName,
                Group = groupName,
            };
            foreach (var topic in Split(parse.GetValue(topics)) is { Count: > 0 } t ? t : [AllTopics])
            {
                options.Topics.Add(topic);
            }

            foreach (var name in Split(parse.GetValue(events)))
            {
                options.Events.Add(name);
            }

            foreach (var job in Split(parse.GetValue(jobids)))
            {
                options.Filter.JobIds.Add(job);
            }

            foreach (var prefix in Split(parse.GetValue(sources)))
            {
                options.Filter.IncludeSources.Add(prefix);
            }

            if (from is { } n)
            {
                // Sequence numbers are per topic: each named topic resumes after N; "*" (topics not known yet) uses
                // the one number for every topic it finds.
                foreach (var topic in options.Topics.Where(t => t != AllTopics))
                {
                    options.ResumeFrom[topic] = n;
                }

                if (options.Topics.Contains(AllTopics))
                {
                    options.LastSequenceNum = n;
                }
            }

            var address = common.GetAddress(parse);
            var key = common.RequireApiKey(parse);
            context.Target = address;
            await using var client = CliClient.Create(address, key);
            return await TailAsync(client, options, parse.GetValue(json), max, context, ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> TailAsync(
        EventStreamClient client,
        SubscriptionOptions options,
        bool json,
        int? max,
        CliContext context,
        CancellationToken ct)
    {
        var received = 0;
        var status = new StatusLines(context.Error);
        client.ErrorReceived += (_, e) => status.Notice(e.Error);
        client.StateChanged += (_, e) => status.Connection(e);
        EventSubscription? subscription = null;
        try
        {
            subscription = await client.SubscribeAsync(options, ct).ConfigureAwait(false);
            var confirm = subscription.LastConfirmation;
            var durableNote = subscription.DurableName is { } name
                ? $" as durable {name}" + (subscription.Group is { } g ? $" (group {g})" : "")
                : "";
            status.Subscribed(string.Create(CultureInfo.InvariantCulture,
                $"subscribed to {string.Join(", ", confirm?.Topics ?? [.. options.Topics])}{durableNote} (head "
                    + $"{confirm?.CurrentHead ?? 0}); Ctrl-C to stop"));
            await foreach (var item in subscription.ReadAllAsync(ct).ConfigureAwait(false))
            {
                var envelope = Envelope(item);
                await context.Out.WriteLineAsync(json ? EventFormat.ToJson(envelope) : EventFormat.ToLine(envelope))
                    .ConfigureAwait(false);
                await context.Out.FlushAsync(ct).ConfigureAwait(false);
                received++;
                if (received == max)
                {
                    if (options.AckMode == AckMode.Auto)
                    {
                        // Auto mode acknowledges an event when the loop asks for the next one: this one asks no more.
                        await item.AckAsync(ct).ConfigureAwait(false);
                    }

                    // Unsubscribing sends the waiting acks first and waits for the confirmation: the gateway handles
                    // a stream's messages in order, so every ack has then been applied (events arriving meanwhile
                    // are not shown, and not acknowledged).
                    await subscription.DisposeAsync().ConfigureAwait(false);
                    return ExitCodes.Ok;
                }
            }

            // The subscription ends without an error only when the client is disposed, which this command does last.
            throw new CliException("the subscription ended");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl-C: a clean end (the acks of the events shown are sent when the subscription is disposed below).
            await context.Error.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"stopped after {received} events")).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (EventStreamException ex) when (ex.InnerException is TimeoutException)
        {
            throw new CliException(string.Create(CultureInfo.InvariantCulture,
                $"no answer from the gateway at {context.Target?.ToString().TrimEnd('/')} within "
                    + $"{CliClient.SubscribeTimeout.TotalSeconds:0} s"));
        }
        finally
        {
            if (subscription is not null)
            {
                await subscription.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>The delivery as the gateway sent it (what <c>--json</c> prints and the line shows).</summary>
    private static EventEnvelope Envelope(ReceivedEvent received)
    {
        var envelope = new EventEnvelope
        {
            AckId = received.AckId,
            SubscriptionId = received.SubscriptionId,
            SequenceNum = received.SequenceNum,
            Event = received.Event,
            DeliveryAttempt = received.DeliveryAttempt,
        };
        if (received.PublishedAt != default)
        {
            envelope.PublishedAt = Timestamp.FromDateTimeOffset(received.PublishedAt);
        }

        return envelope;
    }

    internal static Option<string[]> Multi(string name, string description, string helpName) => new(name)
    {
        Description = description + " Several with commas or spaces.",
        HelpName = helpName,
        AllowMultipleArgumentsPerToken = true,
    };

    internal static List<string> Split(string[]? values) =>
        [.. (values ?? [])
            .SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
}
