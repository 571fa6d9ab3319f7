using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// The Toast pipeline's log lines, source-generated. Event ids 5xxx are the pipeline's and never change meaning
/// (documented in docs/configuration.md): 500x set-up and shutdown, 501x the gRPC handler, 503x the native handler,
/// 504x the registry. The queue-full warning has Marie-AI's words ("Queue full for ..., event dropped"): operators'
/// alerts match them.
/// </summary>
internal static partial class ToastLog
{
    // ---------------------------------------------------------------- set-up and shutdown (500x)

    [LoggerMessage(
        EventId = 5001,
        Level = LogLevel.Information,
        Message = "Toast handler grpc: events {Events} to the broker, queue maxsize {MaxSize}, drop_if_full " +
            "{DropIfFull}, enqueue_timeout_s {EnqueueTimeout}, retry backoff {BackoffBase}..{BackoffMax} s, " +
            "max_attempts {MaxAttempts}, drain_timeout_s {DrainTimeout}")]
    public static partial void GrpcHandlerConfigured(
        ILogger logger,
        string events,
        int maxSize,
        string dropIfFull,
        double enqueueTimeout,
        double backoffBase,
        double backoffMax,
        int maxAttempts,
        double drainTimeout);

    [LoggerMessage(
        EventId = 5002,
        Level = LogLevel.Information,
        Message = "Toast handler native: events {Events} appended to {Path} (rotated at {MaxBytes} bytes, {MaxFiles} " +
            "rotated files kept)")]
    public static partial void NativeHandlerConfigured(
        ILogger logger,
        string events,
        string path,
        long maxBytes,
        int maxFiles);

    [LoggerMessage(
        EventId = 5003,
        Level = LogLevel.Warning,
        Message = "No toast handler is enabled (toast.grpc.enabled and toast.native.enabled are false): published " +
            "events go nowhere")]
    public static partial void NoHandlerEnabled(ILogger logger);

    [LoggerMessage(
        EventId = 5004,
        Level = LogLevel.Information,
        Message = "Toast handler grpc stopped: queue drained, every accepted event reached the broker")]
    public static partial void GrpcDrained(ILogger logger);

    [LoggerMessage(
        EventId = 5005,
        Level = LogLevel.Warning,
        Message = "Toast handler grpc stopped: {Undelivered} events could not be delivered to the broker within " +
            "toast.grpc.queue.drain_timeout_s ({DrainTimeout} s)")]
    public static partial void GrpcUndelivered(ILogger logger, long undelivered, double drainTimeout);

    [LoggerMessage(
        EventId = 5006,
        Level = LogLevel.Warning,
        Message = "Toast handler native stopped: {NotWritten} events could not be written to {Path} within " +
            "toast.grpc.queue.drain_timeout_s")]
    public static partial void NativeNotWritten(ILogger logger, long notWritten, string path);

    // ---------------------------------------------------------------- queues, both handlers (501x, 503x)

    [LoggerMessage(
        EventId = 5010,
        Level = LogLevel.Warning,
        Message = "Queue full for toast handler {Handler}, event dropped (id {EventId}, topic {Topic})")]
    public static partial void QueueFullDropped(ILogger logger, string handler, string eventId, string topic);

    [LoggerMessage(
        EventId = 5018,
        Level = LogLevel.Warning,
        Message = "Queue full for toast handler {Handler}: {Count} more events dropped without a line of their own "
            + "(at most {PerSecond} lines a second)")]
    public static partial void QueueFullSuppressed(ILogger logger, string handler, long count, int perSecond);

    [LoggerMessage(
        EventId = 5011,
        Level = LogLevel.Debug,
        Message = "Queue full for toast handler {Handler}: event {EventId} not accepted within {Seconds} s " +
            "(RESOURCE_EXHAUSTED)")]
    public static partial void EnqueueTimedOut(ILogger logger, string handler, string eventId, string seconds);

    // ---------------------------------------------------------------- gRPC handler publishing (501x)

    [LoggerMessage(
        EventId = 5012,
        Level = LogLevel.Warning,
        Message = "Toast handler {Handler}: publishing event {EventId} (topic {Topic}) to the broker failed (attempt " +
            "{Attempt}): {Reason}; retrying in {DelayMs} ms, the topic's later events wait")]
    public static partial void PublishFailed(
        ILogger logger,
        string handler,
        string eventId,
        string topic,
        int attempt,
        long delayMs,
        string reason);

    [LoggerMessage(
        EventId = 5013,
        Level = LogLevel.Debug,
        Message = "Toast handler {Handler}: publishing event {EventId} (topic {Topic}) failed again (attempt " +
            "{Attempt}): {Reason}; retrying in {DelayMs} ms")]
    public static partial void PublishFailedAgain(
        ILogger logger,
        string handler,
        string eventId,
        string topic,
        int attempt,
        long delayMs,
        string reason);

    [LoggerMessage(
        EventId = 5014,
        Level = LogLevel.Error,
        Message = "Event {EventId} dropped after {Attempts} publish attempts (topic {Topic}): {Reason}")]
    public static partial void PublishGivenUp(
        ILogger logger,
        string eventId,
        int attempts,
        string topic,
        string reason);

    [LoggerMessage(
        EventId = 5015,
        Level = LogLevel.Information,
        Message = "Toast handler {Handler}: event {EventId} (topic {Topic}) published at attempt {Attempt}")]
    public static partial void PublishRecovered(
        ILogger logger,
        string handler,
        string eventId,
        string topic,
        int attempt);

    [LoggerMessage(
        EventId = 5016,
        Level = LogLevel.Warning,
        Message = "Toast handler {Handler}: the broker refused event {EventId}: {Reason}")]
    public static partial void PublishInvalid(ILogger logger, string handler, string eventId, string reason);

    [LoggerMessage(
        EventId = 5017,
        Level = LogLevel.Error,
        Message = "Toast handler {Handler}: the lane of topic {Topic} failed")]
    public static partial void LaneFailed(ILogger logger, string handler, string topic, Exception exception);

    // ---------------------------------------------------------------- native handler (503x)

    [LoggerMessage(
        EventId = 5031,
        Level = LogLevel.Error,
        Message = "Toast handler native: writing to {Path} failed, {Lines} events not recorded; the next batch " +
            "reopens the file")]
    public static partial void NativeWriteFailed(ILogger logger, string path, int lines, Exception exception);

    [LoggerMessage(
        EventId = 5032,
        Level = LogLevel.Debug,
        Message = "Toast handler native: writing to {Path} failed again, {Lines} events not recorded: {Reason}")]
    public static partial void NativeWriteFailedAgain(ILogger logger, string path, int lines, string reason);

    [LoggerMessage(
        EventId = 5033,
        Level = LogLevel.Information,
        Message = "Toast handler native: writing to {Path} works again")]
    public static partial void NativeWriteRecovered(ILogger logger, string path);

    // ---------------------------------------------------------------- registry (504x)

    [LoggerMessage(
        EventId = 5040,
        Level = LogLevel.Error,
        Message = "Toast handler {Handler} failed on event {EventId}; the other handlers still got it")]
    public static partial void HandlerFailed(ILogger logger, string handler, string eventId, Exception exception);

    [LoggerMessage(
        EventId = 5041,
        Level = LogLevel.Debug,
        Message = "No toast handler for event {EventId} ({EventName}): not recorded, not published")]
    public static partial void NoHandler(ILogger logger, string eventId, string eventName);
}
