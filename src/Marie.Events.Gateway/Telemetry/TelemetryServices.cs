using Marie.Events.Broker;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Streams;
using Marie.Events.Gateway.Toast;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using System.Diagnostics.Metrics;

namespace Marie.Events.Gateway.Telemetry;

/// <summary>
/// The OpenTelemetry wiring (<c>gateway.telemetry.*</c>, docs/metrics.md): the <c>Marie.Events</c> meter with
/// Kestrel's and ASP.NET Core's meters, exported at <c>GET /metrics</c> on the admin port (Prometheus text) and
/// over OTLP when an endpoint is set; the <c>Marie.Events</c> activity source, parent-based ratio sampling,
/// exported over OTLP. <c>gateway.telemetry.enabled: false</c> registers none of it.
/// </summary>
internal static class TelemetryServices
{
    /// <summary>The scrape path.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>The <c>service.name</c> resource attribute of everything exported.</summary>
    public const string ServiceName = "marie-events-gateway";

    /// <summary>ASP.NET Core's and Kestrel's own meters (requests, connections, TLS handshakes, routing, errors),
    /// exported beside ours.</summary>
    private static readonly string[] AspNetCoreMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.Http.Connections",
    ];

    /// <summary>Registers the options, the gateway's instruments and, when enabled, OpenTelemetry. What is
    /// registered depends on the configuration, so it is read here; a value that does not bind leaves the defaults
    /// here and is reported by start-up validation, which runs before anything is exported.</summary>
    public static IServiceCollection AddMarieTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<TelemetryOptions>()
            .Configure(o =>
            {
                SectionBinder.Bind(configuration, TelemetryOptions.Section, o);
                o.ApplyEnvironment(Environment.GetEnvironmentVariable);
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>();

        var options = ReadForRegistration(configuration);
        services.AddSingleton(sp => new GatewayMetrics(
            options.Enabled ? sp.GetRequiredService<IMeterFactory>() : null,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<StreamRegistry>(),
            sp.GetRequiredService<ToastPipeline>(),
            sp.GetRequiredService<AuthFailureLogs>()));
        services.AddHostedService<TelemetryStartup>();
        if (!options.Enabled)
        {
            return services;
        }

        // Our meter and ASP.NET Core's, as created by this host's meter factory only (MeterScope.Local): a process
        // holding several gateways (the functional tests) exports each one's own figures, never another's.
        services.AddMetrics(rules =>
        {
            foreach (var meter in (string[])[MarieTelemetry.Name, .. AspNetCoreMeters])
            {
                rules.EnableMetrics(meter, instrumentName: null, listenerName: null, MeterScope.Local);
            }
        });
        var otlp = options.ResolveOtlpEndpoint(Environment.GetEnvironmentVariable) is not null;
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName))
            .WithMetrics(metrics =>
            {
                metrics.AddPrometheusExporter();
                if (otlp)
                {
                    metrics.AddOtlpExporter((exporter, reader) =>
                    {
                        SetEndpoint(exporter, options, "v1/metrics");
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds =
                            ExportIntervalMilliseconds(options);
                    });
                }
            });
        // Spans go only to OTLP: without an endpoint no tracer provider listens, so none is created, and an event
        // keeps its producer's context as it came (docs/tracing.md).
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing.AddSource(MarieTelemetry.Name)
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(SampleRatio(options))))
                .AddOtlpExporter(o => SetEndpoint(o, options, "v1/traces")));
        }

        return services;
    }

    /// <summary>Maps <c>GET /metrics</c> (admin port, admin key unless <c>metrics_anonymous</c>) when telemetry
    /// is enabled.</summary>
    public static WebApplication MapMarieMetrics(this WebApplication app, IConfiguration configuration)
    {
        var options = ReadForRegistration(configuration);
        if (options.Enabled)
        {
            app.MapPrometheusScrapingEndpoint(
                MetricsPath,
                meterProvider: null,
                configureBranchedPipeline: branch => branch.Use(next =>
                    http => MetricsAccess.CheckAsync(http, next, options.MetricsAnonymous)),
                optionsName: null);
        }

        return app;
    }

    /// <summary>Publishes the broker's instruments when telemetry is enabled: called where the broker is created,
    /// before its backend loads any topic.</summary>
    public static GrpcEventBroker WithMetrics(this GrpcEventBroker broker, IServiceProvider services)
    {
        if (MeterFactoryIfEnabled(services) is { } meterFactory)
        {
            var options = services.GetRequiredService<IOptions<TelemetryOptions>>().Value;
            broker.EnableMetrics(meterFactory, options.MaxTopicLabels, options.LatencySampleEvery);
        }

        return broker;
    }

    /// <summary>The ratio within 0..1: the sampler is built before start-up validation, which reports a value
    /// outside (naming the key) before anything is sampled.</summary>
    private static double SampleRatio(TelemetryOptions options) =>
        options.TraceSampleRatio is >= 0 and <= 1 ? options.TraceSampleRatio : TelemetryOptions.DefaultTraceSampleRatio;

    /// <summary>The export interval in milliseconds; a value out of range (reported by validation, which runs after
    /// the exporter's options are read) is replaced by the default.</summary>
    private static int ExportIntervalMilliseconds(TelemetryOptions options)
    {
        var seconds = options.OtlpExportIntervalSeconds is > 0 and <= 86_400
            ? options.OtlpExportIntervalSeconds
            : TelemetryOptions.DefaultOtlpExportIntervalSeconds;
        return (int)Math.Ceiling(seconds * 1000);
    }

    /// <summary>The host's meter factory when telemetry is enabled (and its options valid), else null.</summary>
    public static IMeterFactory? MeterFactoryIfEnabled(IServiceProvider services)
    {
        try
        {
            return services.GetRequiredService<IOptions<TelemetryOptions>>().Value.Enabled
                ? services.GetRequiredService<IMeterFactory>()
                : null;
        }
        catch (OptionsValidationException)
        {
            // Reported by start-up validation.
            return null;
        }
    }

    private static TelemetryOptions ReadForRegistration(IConfiguration configuration)
    {
        var options = new TelemetryOptions();
        try
        {
            SectionBinder.Bind(configuration, TelemetryOptions.Section, options);
        }
        catch (OptionsValidationException)
        {
            options = new TelemetryOptions();
        }

        options.ApplyEnvironment(Environment.GetEnvironmentVariable);
        return options;
    }

    /// <summary>The key's endpoint and protocol when set (a bad one is reported by validation): over HTTP the
    /// signal's path is appended, as OpenTelemetry does for the environment variable but not for an endpoint set in
    /// code. Without the key the exporter reads <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (and
    /// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>) itself.</summary>
    private static void SetEndpoint(OtlpExporterOptions exporter, TelemetryOptions options, string signalPath)
    {
        if (string.IsNullOrWhiteSpace(options.OtlpEndpoint)
            || !Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var endpoint))
        {
            return;
        }

        if (options.OtlpProtocol == TelemetryOptions.HttpProtobufProtocol)
        {
            exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
            exporter.Endpoint = new Uri(options.OtlpEndpoint.TrimEnd('/') + "/" + signalPath);
        }
        else
        {
            exporter.Protocol = OtlpExportProtocol.Grpc;
            exporter.Endpoint = endpoint;
        }
    }

    /// <summary>Creates the gateway's instruments once the services they read exist, and says what telemetry
    /// does.</summary>
    private sealed class TelemetryStartup(
        GatewayMetrics metrics,
        IOptions<TelemetryOptions> options,
        ILogger<TelemetryStartup> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = metrics;
            var o = options.Value;
            if (!o.Enabled)
            {
                TelemetryLog.Disabled(logger);
                return Task.CompletedTask;
            }

            var access = o.MetricsAnonymous ? "anonymous" : "admin key required";
            var otlp = o.ResolveOtlpEndpoint(Environment.GetEnvironmentVariable) ?? "off";
            TelemetryLog.Enabled(logger, access, otlp, o.TraceSampleRatio, o.MaxTopicLabels);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
