using Marie.Events.Broker.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Configuration;

/// <summary><c>gateway.telemetry.*</c>: metrics (the <c>Marie.Events</c> meter, <c>GET /metrics</c> on the admin
/// port, OTLP) and traces (the <c>Marie.Events</c> activity source, OTLP). Defaults in docs/configuration.md, the
/// instruments in docs/metrics.md.</summary>
internal sealed class TelemetryOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "gateway:telemetry";

    /// <summary>Dotted prefix of the keys, for messages.</summary>
    public const string Prefix = "gateway.telemetry.";

    /// <summary>The trace sampler's default ratio for spans without a sampled parent: one trace in ten, enough to
    /// see the shape of the traffic, cheap enough under load; a producer's sampled <c>traceparent</c> is always
    /// followed (parent-based).</summary>
    public const double DefaultTraceSampleRatio = 0.1;

    /// <summary><c>otlp_protocol: grpc</c>.</summary>
    public const string GrpcProtocol = "grpc";

    /// <summary><c>otlp_protocol: http/protobuf</c>.</summary>
    public const string HttpProtobufProtocol = "http/protobuf";

    /// <summary>OpenTelemetry's own default export interval.</summary>
    public const double DefaultOtlpExportIntervalSeconds = 60;

    /// <summary>Largest <c>max_topic_labels</c>: each labelled topic is some ten series per scrape.</summary>
    public const int MaxTopicLabelsLimit = 10_000;

    /// <summary>Metrics and traces at all; false registers no meter listener, no exporter and no
    /// <c>/metrics</c> (for the side-by-side cost measurement).</summary>
    [ConfigurationKeyName("enabled")]
    public bool Enabled { get; set; } = true;

    /// <summary>Topics that get a <c>topic</c> label of their own (the first ones created); the rest are
    /// <c>_other</c>.</summary>
    [ConfigurationKeyName("max_topic_labels")]
    public int MaxTopicLabels { get; set; } = MarieTelemetry.DefaultMaxTopicLabels;

    /// <summary>One event in this many has its delivery and ack latency recorded (1: every event).</summary>
    [ConfigurationKeyName("latency_sample_every")]
    public int LatencySampleEvery { get; set; } = MarieTelemetry.DefaultLatencySampleEvery;

    /// <summary><c>/metrics</c> without a key (for a scraper on a private network).</summary>
    [ConfigurationKeyName("metrics_anonymous")]
    public bool MetricsAnonymous { get; set; }

    /// <summary>Where to send metrics and traces over OTLP (e.g. <c>http://collector:4317</c>); empty: the
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> environment variable, and without it no OTLP.</summary>
    [ConfigurationKeyName("otlp_endpoint")]
    public string? OtlpEndpoint { get; set; }

    /// <summary>How <c>otlp_endpoint</c> is spoken: <c>grpc</c> (port 4317 by convention) or
    /// <c>http/protobuf</c> (4318; the signal paths <c>/v1/metrics</c> and <c>/v1/traces</c> are appended). With the
    /// environment variable instead of the key, <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> decides.</summary>
    [ConfigurationKeyName("otlp_protocol")]
    public string OtlpProtocol { get; set; } = GrpcProtocol;

    /// <summary>Seconds between two OTLP metric exports (OpenTelemetry's default, 60).</summary>
    [ConfigurationKeyName("otlp_export_interval_s")]
    public double OtlpExportIntervalSeconds { get; set; } = DefaultOtlpExportIntervalSeconds;

    /// <summary>The share of traces started here (no sampled parent) that are recorded, 0 to 1.</summary>
    [ConfigurationKeyName("trace_sample_ratio")]
    public double TraceSampleRatio { get; set; } = DefaultTraceSampleRatio;

    /// <summary>The OTLP endpoint in force, for the start-up line: the key, else the environment variable (which
    /// the OTLP exporter reads itself), else null (no OTLP).</summary>
    public string? ResolveOtlpEndpoint(Func<string, string?> environment)
    {
        var text = string.IsNullOrWhiteSpace(OtlpEndpoint) ? environment(OtlpEnvironmentVariable) : OtlpEndpoint;
        return string.IsNullOrWhiteSpace(text) ? null : text;
    }

    /// <summary>OpenTelemetry's switch: <c>OTEL_SDK_DISABLED=true</c> turns telemetry off like
    /// <c>enabled: false</c> (handy for a process started with an environment of its own, as the load test's
    /// <c>--gateway-env</c> does).</summary>
    public const string SdkDisabledEnvironmentVariable = "OTEL_SDK_DISABLED";

    /// <summary>Applies <see cref="SdkDisabledEnvironmentVariable"/>.</summary>
    public void ApplyEnvironment(Func<string, string?> environment)
    {
        if (bool.TryParse(environment(SdkDisabledEnvironmentVariable), out var disabled) && disabled)
        {
            Enabled = false;
        }
    }

    /// <summary>OpenTelemetry's own variable, honoured when <c>otlp_endpoint</c> is empty.</summary>
    public const string OtlpEnvironmentVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";
}

/// <summary>Validates <c>gateway.telemetry.*</c>; every message names the full key.</summary>
internal sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options)
    {
        var errors = new List<string>();
        if (options.MaxTopicLabels is < 0 or > TelemetryOptions.MaxTopicLabelsLimit)
        {
            const int limit = TelemetryOptions.MaxTopicLabelsLimit;
            var got = options.MaxTopicLabels;
            errors.Add(GatewayOptionsValidator.Invariant(
                $"{TelemetryOptions.Prefix}max_topic_labels must be between 0 and {limit} (got {got})"));
        }

        if (options.LatencySampleEvery is < 1 or > MarieTelemetry.MaxLatencySampleEvery)
        {
            const int limit = MarieTelemetry.MaxLatencySampleEvery;
            var got = options.LatencySampleEvery;
            errors.Add(GatewayOptionsValidator.Invariant(
                $"{TelemetryOptions.Prefix}latency_sample_every must be between 1 and {limit} (got {got})"));
        }

        if (!(options.TraceSampleRatio is >= 0 and <= 1))
        {
            var got = options.TraceSampleRatio;
            errors.Add(GatewayOptionsValidator.Invariant(
                $"{TelemetryOptions.Prefix}trace_sample_ratio must be between 0 and 1 (got {got})"));
        }

        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint)
            && (!Uri.TryCreate(options.OtlpEndpoint, UriKind.Absolute, out var uri)
                || uri.Scheme is not ("http" or "https")))
        {
            errors.Add($"{TelemetryOptions.Prefix}otlp_endpoint must be an http:// or https:// URL "
                + $"(got '{options.OtlpEndpoint}')");
        }

        if (options.OtlpProtocol is not (TelemetryOptions.GrpcProtocol or TelemetryOptions.HttpProtobufProtocol))
        {
            errors.Add($"{TelemetryOptions.Prefix}otlp_protocol must be \"grpc\" or \"http/protobuf\" "
                + $"(got '{options.OtlpProtocol}')");
        }

        // At most a day: a longer interval is a configuration mistake, not a wish.
        if (!(options.OtlpExportIntervalSeconds is > 0 and <= 86_400))
        {
            var got = options.OtlpExportIntervalSeconds;
            errors.Add(GatewayOptionsValidator.Invariant(
                $"{TelemetryOptions.Prefix}otlp_export_interval_s must be above 0 and at most 86400 (got {got})"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
