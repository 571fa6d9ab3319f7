using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Marie.Events.Client;
using Marie.Events.Protocol;
using Spectre.Console;

namespace Marie.Events.Cli.Commands;

/// <summary><c>publish</c>: one event from flags, or many from a JSON-lines file or standard input.</summary>
internal static class PublishCommand
{
    public static Command Create(CliContext context, CommonOptions common)
    {
        var topic = new Option<string?>("--topic", "-t")
        {
            Description = "The topic (the event's api_key).",
            HelpName = "TOPIC",
        };
        var name = new Option<string?>("--event", "-e")
        {
            Description = "The event name, e.g. extract.completed.",
            HelpName = "NAME",
        };
        var source = new Option<string>("--source")
        {
            Description = "The event's source.",
            HelpName = "SOURCE",
            DefaultValueFactory = _ => "cli://marie-events",
        };
        var jobid = new Option<string?>("--jobid", "-j") { Description = "The job id.", HelpName = "ID" };
        var jobtag = new Option<string?>("--jobtag") { Description = "The job tag.", HelpName = "TAG" };
        var status = new Option<string?>("--status", "-s")
        {
            Description = "The status: INFO, SUCCESS, FAILURE, OK, FAILED.",
            HelpName = "STATUS",
        };
        var payload = new Option<string?>("--payload", "-p")
        {
            Description = "The payload, a JSON object.",
            HelpName = "JSON",
        };
        var id = new Option<string?>("--id")
        {
            Description = "The event id (default: a new one, 32 hex characters).",
            HelpName = "ID",
        };
        var file = new Option<string?>("--file", "-f")
        {
            Description = "Publish every line of FILE ('-' = standard input): one event a line, the JSON form of "
                + "EventData (api_key names the topic).",
            HelpName = "FILE",
        };
        var command = new Command("publish",
            """
            Publish one event from the flags, or many from a JSON-lines file (or standard input, when it is redirected
            and no --topic is given) with a progress bar and a summary. Needs a key with role publisher or admin.
            """)
        {
            topic, name, source, jobid, jobtag, status, payload, id, file,
        };
        common.AddTo(command);
        command.WithExamples(
            "marie-events publish --topic tenant-a --event extract.completed --jobid job-1 --status OK "
                + "--payload '{\"pages\": 3}'",
            "marie-events publish --file events.jsonl",
            "marie-events publish < events.jsonl     (a line: {\"api_key\": \"tenant-a\", \"event\": "
                + "\"extract.completed\", \"jobid\": \"job-1\"})");
        command.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(file);
            var hasFlags = parse.GetValue(topic) is not null || parse.GetValue(name) is not null;
            if (path is not null && hasFlags)
            {
                throw new CliException("give either --file or --topic/--event, not both", ExitCodes.BadInput);
            }

            if (path is null && !hasFlags)
            {
                if (!context.InputRedirected)
                {
                    throw new CliException(
                        "give --topic and --event for one event, or --file FILE (or standard input) for many",
                        ExitCodes.BadInput);
                }

                path = "-";
            }

            var address = common.GetAddress(parse);
            var key = common.RequireApiKey(parse);
            if (path is not null)
            {
                var events = await ReadEventsAsync(path, context, ct).ConfigureAwait(false);
                context.Target = address;
                await using var bulk = CliClient.Create(address, key);
                return await PublishManyAsync(bulk, events, context, ct).ConfigureAwait(false);
            }

            var evt = new EventData
            {
                ApiKey = parse.GetValue(topic)
                    ?? throw new CliException("--topic is required with --event", ExitCodes.BadInput),
                Event = parse.GetValue(name)
                    ?? throw new CliException("--event is required with --topic", ExitCodes.BadInput),
                Source = parse.GetValue(source) ?? "",
                Jobid = parse.GetValue(jobid) ?? "",
                Jobtag = parse.GetValue(jobtag) ?? "",
                Status = parse.GetValue(status) ?? "",
                Id = parse.GetValue(id) ?? "",
                Payload = ParsePayload(parse.GetValue(payload)),
            };
            context.Target = address;
            await using var client = CliClient.Create(address, key);
            var reply = await client.PublishAsync(evt, ct).ConfigureAwait(false);
            await context.Out.WriteLineAsync($"published {reply.Id} to {reply.Topic} as #{reply.SequenceNum}")
                .ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Struct? ParsePayload(string? json)
    {
        if (json is null)
        {
            return null;
        }

        try
        {
            return Struct.Parser.ParseJson(json);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw new CliException($"--payload is not a JSON object: {ex.Message}", ExitCodes.BadInput);
        }
    }

    /// <summary>Reads and parses every line first, so a bad line stops the command before anything is sent.</summary>
    private static async Task<List<(EventData Event, int Line)>> ReadEventsAsync(
        string path,
        CliContext context,
        CancellationToken ct)
    {
        var label = path == "-" ? "standard input" : path;
        TextReader reader;
        try
        {
            reader = path == "-" ? context.In : new StreamReader(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {label}: {ex.Message}", ExitCodes.BadInput);
        }

        var events = new List<(EventData, int)>();
        try
        {
            var number = 0;
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                number++;
                if (string.IsNullOrWhiteSpace(line))
                {
                    continue;
                }

                EventData evt;
                try
                {
                    evt = EventFormat.Parser.Parse<EventData>(line);
                }
                catch (Exception ex)
                    when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
                {
                    throw new CliException($"{label} line {number}: bad JSON: {ex.Message}", ExitCodes.BadInput);
                }

                if (evt.ApiKey.Length == 0)
                {
                    throw new CliException(
                        $"{label} line {number}: api_key (the topic) is missing",
                        ExitCodes.BadInput);
                }

                events.Add((evt, number));
            }
        }
        finally
        {
            if (path != "-")
            {
                reader.Dispose();
            }
        }

        return events.Count > 0 ? events : throw new CliException($"no events in {label}", ExitCodes.BadInput);
    }

    /// <summary>One <c>PublishStream</c> through the client: at most its window of requests unanswered (the gateway
    /// slows a fast producer), answers counted on the progress bar. A broken stream is resumed (the client sends
    /// again what had no answer); a refused event ends it: the rest count as failed.</summary>
    private static async Task<int> PublishManyAsync(
        EventStreamClient client,
        List<(EventData Event, int Line)> events,
        CliContext context,
        CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var sent = 0;
        PublishException? failure = null;

        async Task RunAsync(Action<int> progress)
        {
            try
            {
                await foreach (var _ in client.PublishStreamAsync(Source(events), ct).ConfigureAwait(false))
                {
                    sent++;
                    progress(sent);
                }
            }
            catch (PublishException ex) when (ex.Published > 0
                || ex.Status is not (StatusCode.Unavailable
                    or StatusCode.Unauthenticated
                    or StatusCode.PermissionDenied))
            {
                // A refusal of one event (the stream went on until it): reported in the summary. Nothing sent and
                // the gateway unreachable or the key refused: the command's one error line, without a summary.
                failure = ex;
            }
        }

        if (context.Interactive)
        {
            await context.ErrorConsole.Progress()
                .Columns(
                    new TaskDescriptionColumn(),
                    new ProgressBarColumn(),
                    new PercentageColumn(),
                    new RemainingTimeColumn())
                .StartAsync(async progress =>
                {
                    var task = progress.AddTask("publishing", maxValue: events.Count);
                    await RunAsync(n => task.Value = n).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }
        else
        {
            await RunAsync(_ => { }).ConfigureAwait(false);
        }

        var seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-3);
        var failed = events.Count - sent;
        await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"sent {sent}, failed {failed} in {seconds:0.00} s ({sent / seconds:0} events/s)")).ConfigureAwait(false);
        if (failure is null)
        {
            return ExitCodes.Ok;
        }

        var line = sent < events.Count ? events[sent].Line : events[^1].Line;
        var (message, _) = CliErrors.Describe(failure, context.Target);
        throw new CliException($"stopped at line {line}: {message}");
    }

    private static async IAsyncEnumerable<EventData> Source(List<(EventData Event, int Line)> events)
    {
        foreach (var (evt, _) in events)
        {
            yield return evt;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }
}
