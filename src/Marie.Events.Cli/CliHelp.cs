using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Runtime.CompilerServices;

namespace Marie.Events.Cli;

/// <summary>The <c>--help</c> text: System.CommandLine's own, then the command's examples.</summary>
internal static class CliHelp
{
    private static readonly ConditionalWeakTable<Command, string[]> Examples = [];

    /// <summary>Sets the examples shown at the end of <paramref name="command"/>'s help.</summary>
    public static TCommand WithExamples<TCommand>(this TCommand command, params string[] examples)
        where TCommand : Command
    {
        Examples.AddOrUpdate(command, examples);
        return command;
    }

    /// <summary>Adds <c>--help</c> (for every command) and <c>--version</c> to the root.</summary>
    public static void Install(Command root)
    {
        var help = new HelpOption();
        if (help.Action is SynchronousCommandLineAction standard)
        {
            help.Action = new WithExamplesAction(standard);
        }

        root.Options.Add(help);
        root.Options.Add(new VersionOption());
    }

    private sealed class WithExamplesAction(SynchronousCommandLineAction standard) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var result = standard.Invoke(parseResult);
            if (Examples.TryGetValue(parseResult.CommandResult.Command, out var examples) && examples.Length > 0)
            {
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine(examples.Length == 1 ? "Example:" : "Examples:");
                foreach (var example in examples)
                {
                    output.WriteLine("  " + example);
                }

                output.WriteLine();
            }

            return result;
        }
    }
}
