using System.CommandLine;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Marie.Events.Protocol;
using Spectre.Console;

namespace Marie.Events.Cli.Commands;

/// <summary><c>dead-letters list|show|replay|purge</c>: the key's dead letters over the gRPC
/// <c>DeadLetterService</c>. <c>list</c> and <c>show</c> here; <c>replay</c> and <c>purge</c> in
/// <see cref="DeadLetterChangeCommands"/>.</summary>
internal static class DeadLettersCommand
{
    /// <summary>The service's largest page.</summary>
    private const int MaxPageSize = 500;

    public static Command Create(CliContext context, CommonOptions common) =>
        new Command("dead-letters",
            """
            The events the gateway dead-lettered for your key (terminated, or out of attempts), over
            marieai.events.DeadLetterService: list, show one, replay to the subscription that failed them, purge.
            A key sees only its own; an admin key may name another with --key.
            """)
        {
            CreateList(context, common),
            CreateShow(context, common),
            DeadLetterChangeCommands.CreateReplay(context, common),
            DeadLetterChangeCommands.CreatePurge(context, common),
        }.WithExamples(
            "marie-events dead-letters list --topic tenant-a",
            "marie-events dead-letters show 3f6c0d2e…",
            "marie-events dead-letters replay --subscription worker-1 --yes",
            "marie-events dead-letters purge --reason terminated --yes");

    private static Command CreateList(CliContext context, CommonOptions common)
    {
        var filter = new DeadLetterFilterOptions();
        var pageSize = new Option<int>("--page-size")
        {
            Description = $"Dead letters a page (1 to {MaxPageSize}). Default: 0 = the gateway's (50).",
            HelpName = "N",
        };
        var pageToken = new Option<string?>("--page-token")
        {
            Description = "The page after the one that printed this token.",
            HelpName = "TOKEN",
        };
        var all = new Option<bool>("--all") { Description = "Every page, one after the other." };
        var json = new Option<bool>("--json")
        {
            Description = "One JSON object a dead letter (the DeadLetter message), and no footer.",
        };
        var command = new Command("list", "List dead letters, oldest first, a page at a time.")
        {
            pageSize, pageToken, all, json,
        };
        filter.AddTo(command);
        common.AddTo(command);
        command.WithExamples(
            "marie-events dead-letters list",
            "marie-events dead-letters list --topic tenant-a --reason max_attempts --page-size 100",
            "marie-events dead-letters list --all --json");
        command.SetAction(async (parse, ct) =>
        {
            var size = parse.GetValue(pageSize);
            if (size is < 0 or > MaxPageSize)
            {
                throw new CliException($"--page-size must be 1 to {MaxPageSize} (got {size})", ExitCodes.BadInput);
            }

            var request = new ListDeadLettersRequest
            {
                Filter = filter.Get(parse),
                PageSize = size,
                PageToken = parse.GetValue(pageToken) ?? "",
                Key = filter.GetKey(parse),
            };
            using var connection = Connect(context, common, parse);
            var asJson = parse.GetValue(json);
            var table = NewListTable();
            var shown = 0;
            ListDeadLettersResponse page;
            do
            {
                page = await connection.DeadLetters.ListDeadLettersAsync(request, connection.Unary(ct))
                    .ConfigureAwait(false);
                foreach (var letter in page.DeadLetters)
                {
                    if (asJson)
                    {
                        await context.Out.WriteLineAsync(EventFormat.ToJson(letter)).ConfigureAwait(false);
                    }
                    else
                    {
                        AddRow(table, letter);
                    }
                }

                shown += page.DeadLetters.Count;
                request.PageToken = page.NextPageToken;
            }
            while (parse.GetValue(all) && page.NextPageToken.Length > 0);

            if (!asJson)
            {
                if (shown > 0)
                {
                    context.Console.Write(table);
                }

                var more = page.NextPageToken.Length > 0 ? $"; next page: --page-token {page.NextPageToken}" : "";
                await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{shown} of {page.Total} dead letters{more}")).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateShow(CliContext context, CommonOptions common)
    {
        var id = new Argument<string>("id") { Description = "The dead letter's id (from list)." };
        var key = DeadLetterFilterOptions.NewKeyOption();
        var json = new Option<bool>("--json") { Description = "The DeadLetter message as JSON." };
        var command = new Command("show", "Show one dead letter: the whole event, why, its attempts and history.")
        {
            id, key, json,
        };
        common.AddTo(command);
        command.WithExamples("marie-events dead-letters show 3f6c0d2e…", "marie-events dead-letters show ID --json");
        command.SetAction(async (parse, ct) =>
        {
            var request = new GetDeadLetterRequest { Id = parse.GetValue(id)!, Key = parse.GetValue(key) ?? "" };
            using var connection = Connect(context, common, parse);
            DeadLetter letter;
            try
            {
                letter = await connection.DeadLetters.GetDeadLetterAsync(request, connection.Unary(ct))
                    .ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                throw new CliException($"no dead letter '{request.Id}' for this key (see 'dead-letters list')");
            }

            await context.Out.WriteAsync(parse.GetValue(json) ? EventFormat.ToJson(letter) + "\n" : Describe(letter))
                .ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A connection for a command, its address noted for error lines.</summary>
    internal static GatewayConnection Connect(CliContext context, CommonOptions common, ParseResult parse)
    {
        var key = common.RequireApiKey(parse);
        var address = common.GetAddress(parse);
        context.Target = address;
        return new GatewayConnection(address, key);
    }

    private static Table NewListTable() => new Table()
        .AddColumn("id")
        .AddColumn("topic")
        .AddColumn(new TableColumn("seq").RightAligned())
        .AddColumn("event")
        .AddColumn("subscription")
        .AddColumn("reason")
        .AddColumn(new TableColumn("attempts").RightAligned())
        .AddColumn(new TableColumn("times").RightAligned())
        .AddColumn("dead-lettered at")
        .AddColumn("client reason");

    private static void AddRow(Table table, DeadLetter letter) => table.AddRow(
        Markup.Escape(letter.Id),
        Markup.Escape(letter.Topic),
        letter.SequenceNum.ToString(CultureInfo.InvariantCulture),
        Markup.Escape(letter.Event?.Event ?? ""),
        Markup.Escape(SubscriptionOf(letter.Subscription)),
        Markup.Escape(letter.ReasonCode),
        letter.Attempts.ToString(CultureInfo.InvariantCulture),
        letter.DeadLetterCount.ToString(CultureInfo.InvariantCulture),
        Time(letter.DeadLetteredAt),
        Markup.Escape(Shorten(letter.Reason)));

    private static string Describe(DeadLetter letter)
    {
        var lines = new List<string>
        {
            $"dead letter {letter.Id} (key {letter.Key})",
            $"  event:          {EventFormat.ToLine(new EventEnvelope
            {
                SequenceNum = letter.SequenceNum, Event = letter.Event, PublishedAt = letter.PublishedAt,
            })}",
            $"  published at:   {Time(letter.PublishedAt)}",
            $"  subscription:   {SubscriptionOf(letter.Subscription)}",
            $"  reason:         {letter.ReasonCode}{(letter.Reason.Length > 0 ? $": {letter.Reason}" : "")}",
            string.Create(CultureInfo.InvariantCulture,
                $"  attempts:       {letter.Attempts} (first {Time(letter.FirstDeliveredAt)}, last "
                    + $"{Time(letter.LastDeliveredAt)})"),
            string.Create(CultureInfo.InvariantCulture,
                $"  dead-lettered:  {Time(letter.DeadLetteredAt)} ({letter.DeadLetterCount} times in all)"),
        };
        foreach (var round in letter.History)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"  earlier:        {round.ReasonCode}{(round.Reason.Length > 0 ? $": {round.Reason}" : "")} after "
                    + $"{round.Attempts} attempts, {Time(round.DeadLetteredAt)}"));
        }

        return string.Join('\n', lines) + "\n";
    }

    private static string SubscriptionOf(DeadLetterSubscription? subscription) =>
        subscription is null ? ""
        : subscription.DurableName.Length > 0
            ? subscription.DurableName + (subscription.Group.Length > 0 ? $" (group {subscription.Group})" : "")
        : $"{subscription.SubscriptionId} (stream {subscription.ConnectionId})";

    /// <summary>A client reason in a table cell: the first line, at most this many characters.</summary>
    private static string Shorten(string reason)
    {
        // A table row stays one line: 60 characters of a reason of up to 1 KiB, the rest in 'show'.
        const int MaxCell = 60;
        var first = reason.Split('\n')[0];
        return first.Length <= MaxCell && first.Length == reason.Length
            ? first
            : first[..Math.Min(first.Length, MaxCell)] + "…";
    }

    private static string Time(Timestamp? at) =>
        at is null ? "" : at.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
