namespace Marie.Events.Cli;

/// <summary>A failure told to the user in one line, with the exit code it ends with.</summary>
internal sealed class CliException : Exception
{
    public CliException(string message, int exitCode = ExitCodes.Failed)
        : base(message) => ExitCode = exitCode;

    public CliException()
        : this("failed")
    {
    }

    public CliException(string message, Exception innerException)
        : base(message, innerException) => ExitCode = ExitCodes.Failed;

    public int ExitCode { get; }
}

/// <summary>The exit codes (docs/cli.md).</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>The operation failed: gateway unreachable, key refused, events not published, not serving.</summary>
    public const int Failed = 1;

    /// <summary>Bad input: unknown option, missing value, bad JSON, unreadable file.</summary>
    public const int BadInput = 2;

    /// <summary>Interrupted with Ctrl-C (128 + SIGINT), except subscribe, which Ctrl-C ends normally.</summary>
    public const int Interrupted = 130;
}
