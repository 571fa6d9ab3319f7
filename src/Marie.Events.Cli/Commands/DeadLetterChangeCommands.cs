using System.CommandLine;
using System.Globalization;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Commands;

/// <summary><c>dead-letters replay</c> and <c>dead-letters purge</c>: each asks the gateway for the dry-run count
/// first and prints it; only with <c>--yes</c> does it go on.</summary>
internal static class DeadLetterChangeCommands
{
    /// <summary>The most one replay call may send (the service's limit).</summary>
    private const int MaxReplay = 1000;

    public static Command CreateReplay(CliContext context, CommonOptions common)
    {
        var filter = new DeadLetterFilterOptions();
        var max = new Option<int>("--max")
        {
            Description = $"Replay at most this many (1 to {MaxReplay}). Default: 0 = the gateway's (100).",
            HelpName = "N",
        };
        var yes = new Option<bool>("--yes", "-y") { Description = "Replay them (without it: only the count)." };
        var command = new Command("replay",
            """
            Send dead letters again to the subscription that failed them, and to no other, at the gateway's pace
            (dead_letters.replay_per_second). Prints the dry-run count first; replays only with --yes. Each keeps
            its id and attempt history; one that fails again is dead-lettered again. A dead letter whose
            subscription has ended is not sent (listed with the reason) and stays.
            """)
        {
            max, yes,
        };
        filter.AddTo(command);
        common.AddTo(command);
        command.WithExamples(
            "marie-events dead-letters replay --subscription worker-1",
            "marie-events dead-letters replay --subscription worker-1 --yes",
            "marie-events dead-letters replay --id 3f6c0d2e… --yes");
        command.SetAction(async (parse, ct) =>
        {
            var limit = parse.GetValue(max);
            if (limit is < 0 or > MaxReplay)
            {
                throw new CliException($"--max must be 1 to {MaxReplay} (got {limit})", ExitCodes.BadInput);
            }

            var request = new ReplayDeadLettersRequest
            {
                Filter = filter.Get(parse),
                MaxEvents = limit,
                Key = filter.GetKey(parse),
                DryRun = true,
            };
            using var connection = DeadLettersCommand.Connect(context, common, parse);
            var dry = await connection.DeadLetters.ReplayDeadLettersAsync(request, connection.Unary(ct))
                .ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"dry run: {dry.Selected} of {dry.Matched} matching dead letters would be replayed "
                    + $"({DeadLetterFilterOptions.Describe(request.Filter)})")).ConfigureAwait(false);
            if (!parse.GetValue(yes) || dry.Selected == 0)
            {
                await NothingDoneAsync(context, dry.Selected, "replayed").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            request.DryRun = false;
            var done = await connection.DeadLetters.ReplayDeadLettersAsync(request, connection.Unary(ct))
                .ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"replayed {done.Replayed} of {done.Selected}; {done.Failures.Count} not replayed"))
                .ConfigureAwait(false);
            foreach (var failure in done.Failures)
            {
                await context.Out.WriteLineAsync($"  {failure.Id}: {failure.Code}: {failure.Message}")
                    .ConfigureAwait(false);
            }

            return done.Failures.Count == 0 ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    public static Command CreatePurge(CliContext context, CommonOptions common)
    {
        var filter = new DeadLetterFilterOptions();
        var yes = new Option<bool>("--yes", "-y") { Description = "Remove them (without it: only the count)." };
        var command = new Command("purge",
            """
            Remove dead letters for good. Prints the dry-run count first; removes only with --yes. With no filter,
            every dead letter of the key.
            """)
        {
            yes,
        };
        filter.AddTo(command);
        common.AddTo(command);
        command.WithExamples(
            "marie-events dead-letters purge --reason terminated",
            "marie-events dead-letters purge --topic tenant-a --yes");
        command.SetAction(async (parse, ct) =>
        {
            var request = new PurgeDeadLettersRequest
            {
                Filter = filter.Get(parse),
                Key = filter.GetKey(parse),
                DryRun = true,
            };
            using var connection = DeadLettersCommand.Connect(context, common, parse);
            var dry = await connection.DeadLetters.PurgeDeadLettersAsync(request, connection.Unary(ct))
                .ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"dry run: {dry.Purged} dead letters would be purged "
                    + $"({DeadLetterFilterOptions.Describe(request.Filter)})")).ConfigureAwait(false);
            if (!parse.GetValue(yes) || dry.Purged == 0)
            {
                await NothingDoneAsync(context, dry.Purged, "purged").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            request.DryRun = false;
            var done = await connection.DeadLetters.PurgeDeadLettersAsync(request, connection.Unary(ct))
                .ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"purged {done.Purged} dead letters")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Task NothingDoneAsync(CliContext context, int count, string verb) =>
        context.Out.WriteLineAsync(count == 0
            ? $"nothing {verb}"
            : $"nothing {verb}: run again with --yes to go on");
}
