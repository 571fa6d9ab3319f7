using System.CommandLine;
using System.CommandLine.Invocation;
using Marie.Events.Cli.Commands;

namespace Marie.Events.Cli;

/// <summary>The <c>marie-events</c> command line: parses, runs one command, and reports any failure as one line on
/// standard error with a non-zero exit code (docs/cli.md).</summary>
internal static class CliApp
{
    public const string Name = "marie-events";

    /// <summary>Runs the command line <paramref name="args"/>; <paramref name="cancellationToken"/> is
    /// Ctrl-C.</summary>
    public static async Task<int> RunAsync(
        string[] args,
        CliContext context,
        CancellationToken cancellationToken = default)
    {
        var root = Build(context);
        var parse = root.Parse(args);
        // --help and --version win over errors (a required option left out); anything else is reported in one line.
        if (parse.Errors.Count > 0 && parse.Action is null or ParseErrorAction)
        {
            var path = string.Join(' ', Path(parse.CommandResult));
            await context.Error.WriteLineAsync($"{Name}: {parse.Errors[0].Message} (see '{path} --help')")
                .ConfigureAwait(false);
            return ExitCodes.BadInput;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = context.Out,
                Error = context.Error,
                EnableDefaultExceptionHandler = false,
                // Ctrl-C is the caller's token (Program.cs), so each command decides what it means.
                ProcessTerminationTimeout = null,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await context.Error.WriteLineAsync($"{Name}: interrupted").ConfigureAwait(false);
            return ExitCodes.Interrupted;
        }
        catch (Exception ex)
        {
            var (message, exitCode) = CliErrors.Describe(ex, context.Target);
            await context.Error.WriteLineAsync($"{Name}: {message}").ConfigureAwait(false);
            return exitCode;
        }
    }

    public static Command Build(CliContext context)
    {
        var common = new CommonOptions(context);
        var root = new Command(
            Name,
            "Run and use a Marie Event Stream gateway: serve, keys, publish, subscribe, replay, stats, health, "
                + "dead-letters, durables.")
        {
            ServeCommand.Create(),
            KeysCommand.Create(context, common),
            PublishCommand.Create(context, common),
            SubscribeCommand.Create(context, common),
            ReplayCommand.Create(context, common),
            StatsCommand.Create(context, common),
            HealthCommand.Create(context, common),
            DeadLettersCommand.Create(context, common),
            DurablesCommand.Create(context, common),
        };
        root.WithExamples(
            "marie-events serve",
            "marie-events health",
            "marie-events publish --topic tenant-a --event extract.completed --jobid job-1 --payload '{\"pages\": 3}'",
            "marie-events subscribe --topics tenant-a");
        CliHelp.Install(root);
        return root;
    }

    private static Stack<string> Path(System.CommandLine.Parsing.CommandResult? result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Push(r.Command.Name);
        }

        return names;
    }
}
