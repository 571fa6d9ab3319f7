using Spectre.Console;

namespace Marie.Events.Cli;

/// <summary>Where a command reads and writes, and the environment it sees: the process's, or a test's.</summary>
internal sealed class CliContext
{
    /// <summary>Width of the rendered tables when the output is not a terminal (tests, pipes): wide enough that
    /// nothing wraps.</summary>
    private const int RedirectedWidth = 200;

    public required TextWriter Out { get; init; }

    public required TextWriter Error { get; init; }

    public required TextReader In { get; init; }

    /// <summary>True when standard input is a file or pipe (bulk publish reads it).</summary>
    public required bool InputRedirected { get; init; }

    /// <summary>True when a person watches the output (progress bars are drawn).</summary>
    public required bool Interactive { get; init; }

    public required Func<string, string?> GetEnvironmentVariable { get; init; }

    /// <summary>The address the running command talks to, named in an error line.</summary>
    public Uri? Target { get; set; }

    /// <summary>Tables and progress on <see cref="Out"/>.</summary>
    public IAnsiConsole Console => _console ??= CreateConsole(Out, Interactive);

    /// <summary>Progress bars on <see cref="Error"/> (standard output stays for results).</summary>
    public IAnsiConsole ErrorConsole => _errorConsole ??= CreateConsole(Error, Interactive);

    private IAnsiConsole? _console;
    private IAnsiConsole? _errorConsole;

    public static CliContext ForProcess() => new()
    {
        Out = System.Console.Out,
        Error = System.Console.Error,
        In = System.Console.In,
        InputRedirected = System.Console.IsInputRedirected,
        Interactive = !System.Console.IsOutputRedirected && !System.Console.IsErrorRedirected,
        GetEnvironmentVariable = Environment.GetEnvironmentVariable,
    };

    private static IAnsiConsole CreateConsole(TextWriter writer, bool interactive)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        if (!interactive)
        {
            console.Profile.Width = RedirectedWidth;
        }

        return console;
    }
}
