using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway;

/// <summary>How to build a gateway host (<see cref="GatewayHost.Build(GatewayHostOptions)"/>). Everything but
/// <see cref="Args"/> is for tests and embedding; the defaults are what the gateway executable uses.</summary>
public sealed class GatewayHostOptions
{
    /// <summary>Command-line arguments: <c>--config FILE</c> (or <c>--config=FILE</c>) picks the configuration
    /// file.</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>Adds configuration after the configuration file (e.g. an in-memory override; keys use ':' as in
    /// <c>toast:grpc:broker:max_in_flight</c>).</summary>
    public Action<IConfigurationBuilder>? ConfigureConfiguration { get; init; }

    /// <summary>Adjusts logging after the gateway's console set-up (e.g. adds a capturing provider).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>Adjusts services after the gateway's registrations (e.g. replaces the
    /// <see cref="TimeProvider"/>).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    /// <summary>Where the first run's development keys are printed; default <see cref="System.Console.Out"/>.</summary>
    public TextWriter? Console { get; init; }

    /// <summary>Reads <c>MARIE_EVENTS_CONFIG</c> and <c>MARIE_LOG_LEVEL</c>; default
    /// <see cref="Environment.GetEnvironmentVariable(string)"/>.</summary>
    public Func<string, string?>? GetEnvironmentVariable { get; init; }
}

/// <summary>The ports a started gateway listens on.</summary>
/// <param name="Grpc">The gRPC (h2c) port.</param>
/// <param name="Admin">The admin API (HTTP/1.1) port.</param>
public readonly record struct GatewayPorts(int Grpc, int Admin);
