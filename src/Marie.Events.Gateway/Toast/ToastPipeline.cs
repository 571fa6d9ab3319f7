using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// Marie-AI's pipeline, Toast registry → <see cref="GrpcToastHandler"/> → broker, plus the native handler, as one
/// hosted service. Start: the native writer starts and the set-up is logged. As soon as the gateway starts stopping,
/// the gRPC handler accepts no more events and its queue gets <c>toast.grpc.queue.drain_timeout_s</c> to reach the
/// broker (publish calls waiting for their result are answered meanwhile); stop waits for that and logs how many
/// events could not be delivered.
/// </summary>
internal sealed class ToastPipeline : IHostedService, IDisposable
{
    /// <summary>The gRPC handler goes first: events reach the broker before anything else.</summary>
    public const int GrpcPriority = 0;

    /// <summary>The native handler after it.</summary>
    public const int NativePriority = 100;

    private readonly IHostApplicationLifetime _lifetime;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private CancellationTokenRegistration _onStopping;

    public ToastPipeline(
        ToastRegistry registry,
        GrpcToastHandler? grpc,
        NativeToastHandler? native,
        IHostApplicationLifetime lifetime,
        TimeProvider time,
        ILogger<ToastPipeline> logger)
    {
        Registry = registry;
        Grpc = grpc;
        Native = native;
        _lifetime = lifetime;
        _time = time;
        _logger = logger;
        if (grpc is not null)
        {
            registry.Register(grpc, ["*"], GrpcPriority);
        }

        if (native is not null)
        {
            registry.Register(native, native.Settings.Events, NativePriority);
        }
    }

    public ToastRegistry Registry { get; }

    /// <summary>Null when <c>toast.grpc.enabled</c> is false.</summary>
    public GrpcToastHandler? Grpc { get; }

    /// <summary>Null when <c>toast.native.enabled</c> is false.</summary>
    public NativeToastHandler? Native { get; }

    /// <summary>How long a stopping gateway drains the queues.</summary>
    private TimeSpan DrainTimeout => Grpc?.Settings.DrainTimeout ?? GrpcToastSettings.Default.DrainTimeout;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Grpc is { Settings: var g })
        {
            ToastLog.GrpcHandlerConfigured(
                _logger,
                "*",
                g.MaxSize,
                g.DropIfFull ? "true" : "false",
                g.EnqueueTimeout.TotalSeconds,
                g.BackoffBase.TotalSeconds,
                g.BackoffMax.TotalSeconds,
                g.MaxAttempts,
                g.DrainTimeout.TotalSeconds);
        }

        if (Native is { Settings: var n })
        {
            var events = string.Join(", ", n.Events);
            ToastLog.NativeHandlerConfigured(_logger, events, n.Path, n.MaxBytes, n.MaxFiles);

            Native.Start();
        }

        if (Grpc is null && Native is null)
        {
            ToastLog.NoHandlerEnabled(_logger);
        }

        _onStopping = _lifetime.ApplicationStopping.Register(() => Grpc?.BeginStop());
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Grpc is not null)
        {
            long undelivered;
            try
            {
                undelivered = await Grpc.StopAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The host's own stop budget ran out first (a broker call ignoring cancellation): what is still
                // queued is reported as not delivered.
                undelivered = Grpc.Stats().EventsUndelivered + Grpc.Stats().QueueDepth;
            }

            if (undelivered == 0)
            {
                ToastLog.GrpcDrained(_logger);
            }
            else
            {
                ToastLog.GrpcUndelivered(_logger, undelivered, Grpc.Settings.DrainTimeout.TotalSeconds);
            }
        }

        if (Native is not null)
        {
            var notWritten = await Native.StopAsync(DrainTimeout, _time).ConfigureAwait(false);
            if (notWritten > 0)
            {
                ToastLog.NativeNotWritten(_logger, notWritten, Native.Settings.Path);
            }
        }
    }

    /// <summary>The pipeline's figures (the <c>toast</c> object of the stats JSON).</summary>
    public ToastStats Stats() =>
        new(Registry.Dispatched, Registry.Unhandled, Registry.HandlerFailures, Grpc?.Stats(), Native?.Stats());

    public void Dispose()
    {
        _onStopping.Dispose();
        Grpc?.Dispose();
        Native?.Dispose();
    }
}

/// <summary>The <c>toast</c> object of the stats JSON.</summary>
/// <param name="EventsDispatched">Events handed to the registry (every accepted publish).</param>
/// <param name="EventsUnhandled">Events no handler was registered for.</param>
/// <param name="HandlerFailures">Times a handler failed on an event.</param>
/// <param name="Grpc">The gRPC handler; null when <c>toast.grpc.enabled</c> is false.</param>
/// <param name="Native">The native handler; null when <c>toast.native.enabled</c> is false.</param>
internal sealed record ToastStats(
    long EventsDispatched,
    long EventsUnhandled,
    long HandlerFailures,
    GrpcToastStats? Grpc,
    NativeToastStats? Native);
