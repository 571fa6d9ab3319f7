using System.Diagnostics.Metrics;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Streams;
using Marie.Events.Gateway.Telemetry;
using Marie.Events.Gateway.Toast;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Gateway.Tests;

/// <summary>The gateway's own instruments (docs/metrics.md) with <see cref="MetricCollector{T}"/> on fake time, and
/// <c>gateway.telemetry.*</c> validation.</summary>
public sealed class GatewayMetricsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly HandlerRig _rig = new(s => s with
    {
        MaxAttempts = 3,
        BackoffBase = TimeSpan.FromMilliseconds(100),
        BackoffMax = TimeSpan.FromMilliseconds(100),
    });

    private readonly string _key = ApiKeyFactory.Create("x").ApiKey;
    private readonly APIKeyManager _keys;
    private readonly StreamRegistry _streams;
    private readonly AuthFailureLogs _authFailures;
    private readonly ToastPipeline _pipeline;

    public GatewayMetricsTests()
    {
        _keys = new APIKeyManager([ApiKeyRegistration.FromKey("me", _key, true, ApiKeyRoles.Subscriber, null)]);
        _streams = new StreamRegistry(
            _keys,
            Options.Create(new LimitsOptions()),
            NullLogger<StreamRegistry>.Instance,
            _rig.Time);
        _authFailures = new AuthFailureLogs(_rig.Time);
        _pipeline = new ToastPipeline(
            new ToastRegistry(NullLogger<ToastRegistry>.Instance),
            _rig.Handler,
            null,
            new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance),
            _rig.Time,
            NullLogger<ToastPipeline>.Instance);
    }

    private IMeterFactory Factory => _services.GetRequiredService<IMeterFactory>();

    private GatewayMetrics NewMetrics(bool enabled = true) =>
        new(enabled ? Factory : null, _rig.Time, _streams, _pipeline, _authFailures);

    private MetricCollector<T> Collect<T>(string instrument)
        where T : struct => new(Factory, MarieTelemetry.Name, instrument, _rig.Time);

    private T Observe<T>(string instrument)
        where T : struct
    {
        using var collector = Collect<T>(instrument);
        collector.RecordObservableInstruments();
        return Assert.Single(collector.GetMeasurementSnapshot()).Value;
    }

    [Fact]
    public void PublishDuration_StartedAndAnswered_RequestToAnswerInSeconds()
    {
        var metrics = NewMetrics();
        using var duration = Collect<double>("marie.events.publish.duration");

        var started = metrics.PublishStarted();
        _rig.Time.Advance(TimeSpan.FromMilliseconds(40));
        metrics.PublishAnswered(started);

        Assert.Equal(0.04, Assert.Single(duration.GetMeasurementSnapshot()).Value, 6);
    }

    [Fact]
    public void PublishDuration_NothingListening_NotMeasured()
    {
        var metrics = NewMetrics();

        Assert.Equal(0, metrics.PublishStarted());
    }

    [Fact]
    public void Instruments_TelemetryDisabled_NoneCreated()
    {
        var metrics = NewMetrics(enabled: false);
        using var streams = Collect<int>("marie.events.streams");
        using var duration = Collect<double>("marie.events.publish.duration");

        metrics.PublishAnswered(metrics.PublishStarted());
        streams.RecordObservableInstruments();

        Assert.Empty(streams.GetMeasurementSnapshot());
        Assert.Empty(duration.GetMeasurementSnapshot());
    }

    [Fact]
    public void Streams_OpenAndClosed_Counted()
    {
        NewMetrics();
        Assert.True(_keys.TryAuthenticate(_key, out var identity));
        using var stop = new CancellationTokenSource();

        var stream = _streams.Open(identity, StreamKind.Events, "one", stop);
        var open = Observe<int>("marie.events.streams");
        stream.Dispose();

        Assert.Equal(1, open);
        Assert.Equal(0, Observe<int>("marie.events.streams"));
    }

    [Fact]
    public void AuthFailures_GrpcAndAdmin_EveryFailureCountedEvenWhenNotLogged()
    {
        NewMetrics();

        // Past the log throttle's 10 lines a second: the lines stop, the count does not.
        for (var i = 0; i < AuthFailureLogs.PerSecond + 5; i++)
        {
            _authFailures.Grpc.TryEnter(out _);
        }

        _authFailures.Admin.TryEnter(out _);

        Assert.Equal(AuthFailureLogs.PerSecond + 6, Observe<long>("marie.events.auth.failures"));
    }

    [Fact]
    public async Task Toast_FailingBroker_QueueDepthRetriesAndGaveUp()
    {
        NewMetrics();
        _rig.Sink.Failing = true;
        var receipt = await _rig.AcceptAsync(TestEvents.Make(id: "doomed"));
        var depth = Observe<int>("marie.events.toast.queue.depth");

        for (var retry = 1; retry <= 2; retry++)
        {
            var scheduled = retry;
            Waiting.Until(() => _rig.Handler.Stats().PublishRetries == scheduled, $"retry {scheduled} scheduled");
            _rig.Advance(TimeSpan.FromMilliseconds(100));
        }

        await Assert.ThrowsAsync<ToastRejectedException>(() => Waiting.For(receipt.Filed!));
        Waiting.Until(() => _rig.Handler.Stats().QueueDepth == 0, "the slot freed");

        Assert.Equal(1, depth);
        Assert.Equal(2, Observe<long>("marie.events.toast.retries"));
        Assert.Equal(1, Observe<long>("marie.events.toast.gave_up"));
        Assert.Equal(0, Observe<int>("marie.events.toast.queue.depth"));
    }

    [Theory]
    [InlineData("max_topic_labels", -1)]
    [InlineData("max_topic_labels", 10_001)]
    [InlineData("trace_sample_ratio", 1.5)]
    [InlineData("trace_sample_ratio", double.NaN)]
    public void Validate_OutOfRange_NamesTheKey(string key, double value)
    {
        var options = new TelemetryOptions();
        if (key == "max_topic_labels")
        {
            options.MaxTopicLabels = (int)value;
        }
        else
        {
            options.TraceSampleRatio = value;
        }

        var result = new TelemetryOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains($"gateway.telemetry.{key}", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("collector:4317")]
    [InlineData("ftp://collector")]
    public void Validate_OtlpEndpointNotHttp_NamesTheKey(string endpoint)
    {
        var result = new TelemetryOptionsValidator().Validate(null, new TelemetryOptions { OtlpEndpoint = endpoint });

        Assert.Contains("gateway.telemetry.otlp_endpoint", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("otlp_protocol")]
    [InlineData("otlp_export_interval_s")]
    public void Validate_OtlpProtocolOrInterval_NamesTheKey(string key)
    {
        var options = key == "otlp_protocol"
            ? new TelemetryOptions { OtlpProtocol = "http/json" }
            : new TelemetryOptions { OtlpExportIntervalSeconds = 0 };

        var result = new TelemetryOptionsValidator().Validate(null, options);

        Assert.Contains($"gateway.telemetry.{key}", result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true", false)]
    [InlineData("TRUE", false)]
    [InlineData("false", true)]
    [InlineData(null, true)]
    public void ApplyEnvironment_OtelSdkDisabled_TurnsTelemetryOff(string? value, bool enabled)
    {
        var options = new TelemetryOptions();

        options.ApplyEnvironment(name => name == "OTEL_SDK_DISABLED" ? value : null);

        Assert.Equal(enabled, options.Enabled);
    }

    [Fact]
    public void Validate_Defaults_Succeed()
    {
        var options = new TelemetryOptions();

        Assert.True(new TelemetryOptionsValidator().Validate(null, options).Succeeded);
        Assert.True(options.Enabled);
        Assert.Equal(100, options.MaxTopicLabels);
        Assert.False(options.MetricsAnonymous);
        Assert.Equal(0.1, options.TraceSampleRatio);
    }

    public void Dispose()
    {
        _pipeline.Dispose();
        _rig.Dispose();
        _services.Dispose();
    }
}
