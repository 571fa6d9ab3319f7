using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Toast;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Gateway.Tests;

/// <summary>The pipeline as a whole: which handlers, their events, shutdown logging; option validation.</summary>
public sealed class ToastPipelineTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "marie-events-unit", Guid.NewGuid().ToString("N"));
    private readonly RecordingLoggerFactory _logs = new();
    private readonly FakeTimeProvider _time = new(HandlerRig.StartTime);
    private readonly FakeLifetime _lifetime = new();

    private ToastPipeline NewPipeline(GrpcToastHandler? grpc, NativeToastHandler? native) =>
        new(
            new ToastRegistry(_logs.CreateLogger<ToastRegistry>()),
            grpc,
            native,
            _lifetime,
            _time,
            _logs.CreateLogger<ToastPipeline>());

    private NativeToastHandler NewNative(params string[] events) =>
        new(
            new NativeToastSettings(Path.Combine(_dir, "n.jsonl"), 1_000_000, 1, 64, events),
            _logs.CreateLogger<NativeToastHandler>());

    [Fact]
    public async Task DispatchAsync_GrpcDisabled_NativeStillRecordsAndNoBrokerResult()
    {
        using var pipeline = NewPipeline(null, NewNative("*"));
        await pipeline.StartAsync(CancellationToken.None);

        var dispatch = await pipeline.Registry.DispatchAsync(TestEvents.Make(), CancellationToken.None);

        Assert.Null(dispatch.Filed);
        Assert.Equal(["native"], pipeline.Registry.Registrations.Select(r => r.Handler.Name));
        Waiting.Until(() => pipeline.Stats().Native!.EventsWritten == 1, "the native line written");
        Assert.Null(pipeline.Stats().Grpc);
        await pipeline.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task DispatchAsync_NativeEventsPrefix_RecordsOnlyMatchingEventsWhileTheBrokerGetsAll()
    {
        using var rig = new HandlerRig();
        using var pipeline = NewPipeline(rig.Handler, NewNative("extract."));
        await pipeline.StartAsync(CancellationToken.None);

        var extract = await pipeline.Registry.DispatchAsync(
            TestEvents.Make(name: "extract.completed"),
            CancellationToken.None);
        var run = await pipeline.Registry.DispatchAsync(TestEvents.Make(name: "run.success"), CancellationToken.None);
        await Waiting.For(extract.Filed!);
        await Waiting.For(run.Filed!);
        await pipeline.StopAsync(CancellationToken.None);

        Assert.Equal(["grpc", "native"], pipeline.Registry.Registrations.Select(r => r.Handler.Name));
        Assert.Equal(1, pipeline.Stats().Native!.EventsWritten);
        Assert.Equal(2, pipeline.Stats().Grpc!.EventsPublished);
    }

    [Fact]
    public async Task StopAsync_EventsUndelivered_LogsHowMany()
    {
        using var rig = new HandlerRig(s => s with { DrainTimeout = TimeSpan.Zero });
        using var pipeline = NewPipeline(rig.Handler, null);
        await pipeline.StartAsync(CancellationToken.None);
        rig.Sink.Failing = true;
        await pipeline.Registry.DispatchAsync(TestEvents.Make(), CancellationToken.None);
        await pipeline.Registry.DispatchAsync(TestEvents.Make(), CancellationToken.None);
        Waiting.Until(() => rig.Handler.Stats().PublishRetries == 1, "the first retry scheduled");

        await Waiting.For(pipeline.StopAsync(CancellationToken.None));

        var log = Assert.Single(_logs.Entries, e => e.EventId.Id == 5005);
        Assert.Equal(LogLevel.Warning, log.Level);
        Assert.StartsWith(
            "Toast handler grpc stopped: 2 events could not be delivered",
            log.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopAsync_AllDelivered_LogsDrained()
    {
        using var rig = new HandlerRig();
        using var pipeline = NewPipeline(rig.Handler, null);
        await pipeline.StartAsync(CancellationToken.None);
        var dispatch = await pipeline.Registry.DispatchAsync(TestEvents.Make(), CancellationToken.None);
        await Waiting.For(dispatch.Filed!);

        await Waiting.For(pipeline.StopAsync(CancellationToken.None));

        Assert.Single(_logs.Entries, e => e.EventId.Id == 5004);
    }

    [Fact]
    public async Task ApplicationStopping_BeginsTheDrain_NewEventsRefused()
    {
        using var rig = new HandlerRig();
        using var pipeline = NewPipeline(rig.Handler, null);
        await pipeline.StartAsync(CancellationToken.None);

        _lifetime.Stop();

        var error = await Assert.ThrowsAsync<ToastRejectedException>(
            () => pipeline.Registry.DispatchAsync(TestEvents.Make(), CancellationToken.None).AsTask());
        Assert.Equal(ToastRejection.Stopping, error.Reason);
    }

    [Fact]
    public async Task StartAsync_NoHandler_WarnsThatEventsGoNowhere()
    {
        using var pipeline = NewPipeline(null, null);

        await pipeline.StartAsync(CancellationToken.None);

        Assert.Single(_logs.Entries, e => e.EventId.Id == 5003 && e.Level == LogLevel.Warning);
    }

    [Theory]
    [InlineData(
        "enqueue_timeout",
        -1,
        "toast.grpc.queue.enqueue_timeout_s must be 0 (as long as the caller's deadline allows) or more, at most " +
        "86400 (got -1)")]
    [InlineData("drain_timeout", -0.5, "toast.grpc.queue.drain_timeout_s must be 0 or more, at most 86400 (got -0.5)")]
    [InlineData(
        "drain_timeout",
        double.PositiveInfinity,
        "toast.grpc.queue.drain_timeout_s must be 0 or more, at most 86400 (got Infinity)")]
    [InlineData("max_bytes", 0, "toast.native.max_bytes must be at least 1 (got 0)")]
    [InlineData("max_files", -1, "toast.native.max_files must be 0 or more (got -1)")]
    [InlineData("queue_maxsize", 0, "toast.native.queue_maxsize must be at least 1 (got 0)")]
    public void Validate_BadValue_NamesTheFullKey(string what, double value, string expected)
    {
        var options = new ToastOptions();
        switch (what)
        {
            case "enqueue_timeout": options.Grpc.Queue.EnqueueTimeoutSeconds = value; break;
            case "drain_timeout": options.Grpc.Queue.DrainTimeoutSeconds = value; break;
            case "max_bytes": options.Native.MaxBytes = (long)value; break;
            case "max_files": options.Native.MaxFiles = (int)value; break;
            case "queue_maxsize": options.Native.QueueMaxSize = (int)value; break;
        }

        var result = new ToastPipelineOptionsValidator().Validate(null, options);

        Assert.Equal([expected], result.Failures!);
    }

    [Fact]
    public void Validate_EmptyEventPrefix_NamesTheEntry()
    {
        var options = new ToastOptions();
        options.Native.Events = ["extract.", " "];

        var result = new ToastPipelineOptionsValidator().Validate(null, options);

        Assert.Equal(["toast.native.events[1] must not be empty (use \"*\" for every event)"], result.Failures!);
    }

    [Fact]
    public void Validate_Defaults_Pass()
    {
        Assert.Equal(
            ValidateOptionsResult.Success,
            new ToastPipelineOptionsValidator().Validate(null, new ToastOptions()));
    }

    [Fact]
    public void From_Defaults_SeedValuesPlusOurs()
    {
        var settings = GrpcToastSettings.Default;

        Assert.Equal(
            (4096, false, TimeSpan.Zero, 0),
            (settings.MaxSize, settings.DropIfFull, settings.EnqueueTimeout, settings.MaxAttempts));
        Assert.Equal(
            (0.1, 2.0, 5.0),
            (settings.BackoffBase.TotalSeconds, settings.BackoffMax.TotalSeconds, settings.DrainTimeout.TotalSeconds));
    }

    public void Dispose()
    {
        _lifetime.Dispose();
        _logs.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing was written.
        }
    }

    private sealed class FakeLifetime : IHostApplicationLifetime, IDisposable
    {
        private readonly CancellationTokenSource _stopping = new();

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void Stop() => _stopping.Cancel();

        public void StopApplication() => Stop();

        public void Dispose() => _stopping.Dispose();
    }
}
