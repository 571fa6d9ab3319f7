using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway;

/// <summary>
/// Builds and runs the gateway. Tests start the real host in-process:
/// <code>
/// var app = GatewayHost.Build(new GatewayHostOptions
/// {
///     ConfigureConfiguration = c => c.AddInMemoryCollection(values),
/// });
/// await app.StartAsync();
/// var ports = GatewayHost.GetBoundPorts(app);
/// </code>
/// </summary>
public static class GatewayHost
{
    /// <summary>Exit code for a configuration error.</summary>
    public const int ConfigurationErrorExitCode = 2;

    /// <summary>Exit code when the gateway cannot listen (e.g. a port in use).</summary>
    public const int ListenErrorExitCode = 1;

    /// <summary>Builds the gateway with <paramref name="args"/> and an optional configuration override.</summary>
    /// <exception cref="GatewayConfigurationException">See <see cref="Build(GatewayHostOptions)"/>.</exception>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? extraConfig = null) =>
        Build(new GatewayHostOptions { Args = args, ConfigureConfiguration = extraConfig });

    /// <summary>Builds the gateway (not started). Invalid values are reported when it starts, as an
    /// <see cref="OptionsValidationException"/> whose message names each bad key.</summary>
    /// <exception cref="GatewayConfigurationException">A missing or unparsable configuration file, a bad
    /// <c>--config</c> argument, or a bad <c>MARIE_LOG_LEVEL</c>.</exception>
    public static WebApplication Build(GatewayHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var environment = options.GetEnvironmentVariable ?? Environment.GetEnvironmentVariable;
        var level = LogLevelSetting.Parse(environment(LogLevelSetting.EnvironmentVariable));

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [.. options.Args],
            ApplicationName = typeof(GatewayHost).Assembly.GetName().Name,
        });

        // Only the gateway's own sources: no appsettings.json, no unprefixed environment variables.
        builder.Configuration.Sources.Clear();
        var source = ConfigurationLoader.AddGatewayConfiguration(
            builder.Configuration,
            options.Args,
            environment,
            out var file);
        options.ConfigureConfiguration?.Invoke(builder.Configuration);

        GatewayLogging.Configure(builder.Logging, level);
        options.ConfigureLogging?.Invoke(builder.Logging);

        var context = new GatewayHostContext(
            source,
            options.Console ?? Console.Out,
            ReadGrpcEnabled(builder.Configuration),
            file);
        builder.Services.AddMarieGateway(builder.Configuration, context);
        options.ConfigureServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.MapMarieGateway(context);
        return app;
    }

    /// <summary>The ports a started gateway is bound to (the real ones when configured as 0).</summary>
    /// <exception cref="InvalidOperationException">The gateway has not started.</exception>
    public static GatewayPorts GetBoundPorts(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var endpoints = app.Services.GetRequiredService<GatewayEndpoints>();
        return new GatewayPorts(endpoints.GrpcPort, endpoints.AdminPort);
    }

    /// <summary>Runs the gateway until it is stopped; configuration errors are printed to stderr.</summary>
    /// <returns>The process exit code.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            var app = Build(args);
            await using (app.ConfigureAwait(false))
            {
                // Validated here first so that a bad value gives one clean line, not the host's stack trace.
                app.Services.GetService<IStartupValidator>()?.Validate();
                await app.RunAsync().ConfigureAwait(false);
            }

            return 0;
        }
        catch (Exception ex) when (IsConfigurationError(ex))
        {
            var lines = ConfigurationErrors(ex).Select(line => $"marie-events-gateway: configuration error: {line}");
            await Console.Error.WriteLineAsync(string.Join(Environment.NewLine, lines)).ConfigureAwait(false);
            return ConfigurationErrorExitCode;
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync(
                $"marie-events-gateway: cannot listen: {ex.Message}").ConfigureAwait(false);
            return ListenErrorExitCode;
        }
    }

    private static bool IsConfigurationError(Exception ex) => ex switch
    {
        GatewayConfigurationException or OptionsValidationException => true,
        AggregateException aggregate => aggregate.InnerExceptions.All(IsConfigurationError),
        _ => false,
    };

    /// <summary>One line per problem.</summary>
    private static IEnumerable<string> ConfigurationErrors(Exception ex) => ex switch
    {
        OptionsValidationException validation => validation.Failures,
        AggregateException aggregate => aggregate.InnerExceptions.SelectMany(ConfigurationErrors),
        _ => [ex.Message],
    };

    /// <summary><c>toast.grpc.enabled</c> decides what is mapped, so it is read before the services exist; a value
    /// that is not a boolean is reported by validation at start.</summary>
    private static bool ReadGrpcEnabled(ConfigurationManager configuration) =>
        !bool.TryParse(configuration["toast:grpc:enabled"], out var enabled) || enabled;
}
