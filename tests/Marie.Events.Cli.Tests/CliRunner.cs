using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.Cli.Tests;

/// <summary>What a command printed and how it ended.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    /// <summary>Standard error's lines.</summary>
    public string[] ErrorLines =>
        Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- out\n{Out}\n--- error\n{Error}";
}

/// <summary>Runs <c>marie-events</c> in-process, with its own output, input and environment (never the
/// process's), against a gateway.</summary>
public sealed class CliRunner
{
    private readonly GatewayFixture? _gateway;

    public CliRunner(GatewayFixture? gateway = null)
    {
        _gateway = gateway;
    }

    /// <summary>The environment the command sees.</summary>
    public Dictionary<string, string?> Environment { get; } = [];

    /// <summary>What the command reads on standard input (redirected when set).</summary>
    public string? Input { get; set; }

    /// <summary>Standard output while the command runs (for a test that watches a live tail).</summary>
    public StringWriter Out { get; private set; } = new();

    public string GrpcAddress => $"http://127.0.0.1:{_gateway!.Ports.Grpc}";

    public string AdminAddress => $"http://127.0.0.1:{_gateway!.Ports.Admin}";

    /// <summary>Runs the command with <c>--address</c> of the gateway (unless the arguments give one) and the
    /// key.</summary>
    public Task<CliResult> RunAsync(string? key, params string[] args) => RunAsync(key, CancellationToken.None, args);

    public async Task<CliResult> RunAsync(string? key, CancellationToken cancellationToken, params string[] args)
    {
        var all = new List<string>(args);
        var talksToGateway = args.Length > 0
            && (args[0] is "publish" or "subscribe" or "replay" or "stats" or "health" or "dead-letters" or "durables"
                || (args[0] == "keys" && args.Length > 1 && args[1] != "create"));
        if (_gateway is not null && talksToGateway && !args.Contains("--address"))
        {
            all.AddRange(["--address", GrpcAddress]);
        }

        if (key is not null)
        {
            all.AddRange(["--api-key", key]);
        }

        Out = new StringWriter();
        var output = TextWriter.Synchronized(Out);
        var error = new StringWriter();
        var context = new CliContext
        {
            Out = output,
            Error = TextWriter.Synchronized(error),
            In = new StringReader(Input ?? ""),
            InputRedirected = Input is not null,
            Interactive = false,
            GetEnvironmentVariable = name => Environment.GetValueOrDefault(name),
        };
        var exit = await CliApp.RunAsync([.. all], context, cancellationToken).WaitAsync(GatewayFixture.Timeout);
        return new CliResult(exit, Out.ToString(), error.ToString());
    }
}
