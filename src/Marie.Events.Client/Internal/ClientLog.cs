using Microsoft.Extensions.Logging;

namespace Marie.Events.Client.Internal;

/// <summary>The client's log lines (event ids 7001-7029).</summary>
internal static partial class ClientLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Event stream connected to {Address}")]
    public static partial void Connected(ILogger logger, Uri address);

    [LoggerMessage(
        EventId = 7002,
        Level = LogLevel.Warning,
        Message = "Event stream to {Address} ended: {Reason}; reconnecting in {DelayMs} ms (attempt {Attempt})")]
    public static partial void Reconnecting(ILogger logger, Uri address, string reason, long delayMs, int attempt);

    [LoggerMessage(
        EventId = 7003,
        Level = LogLevel.Warning,
        Message = "Gateway {Address} silent for {SilenceMs} ms (two heartbeat intervals): replacing the stream")]
    public static partial void GatewaySilent(ILogger logger, Uri address, long silenceMs);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Error, Message = "Event stream failed for good: {Reason}")]
    public static partial void Fatal(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(
        EventId = 7005,
        Level = LogLevel.Warning,
        Message = "Gateway error {Code} for subscription '{SubscriptionId}': {Message}")]
    public static partial void GatewayError(ILogger logger, string code, string subscriptionId, string message);

    [LoggerMessage(
        EventId = 7006,
        Level = LogLevel.Warning,
        Message = "Events lost on topic {Topic} for subscription {SubscriptionId}: {FirstMissed}..{LastMissed}")]
    public static partial void EventsLost(
        ILogger logger,
        string topic,
        string subscriptionId,
        long firstMissed,
        long lastMissed);

    [LoggerMessage(
        EventId = 7007,
        Level = LogLevel.Warning,
        Message = "Epoch of topic {Topic} changed for subscription {SubscriptionId} ({Expected} -> {Current}): "
            + "de-duplication reset, replay from the ring start")]
    public static partial void EpochChanged(
        ILogger logger,
        string topic,
        string subscriptionId,
        string expected,
        string current);

    [LoggerMessage(
        EventId = 7008,
        Level = LogLevel.Debug,
        Message = "Backpressure on subscription {SubscriptionId}: {PendingEvents} pending, recommended delay "
            + "{DelayMs} ms; flushing acks")]
    public static partial void Backpressure(ILogger logger, string subscriptionId, long pendingEvents, int delayMs);

    [LoggerMessage(
        EventId = 7009,
        Level = LogLevel.Debug,
        Message = "Subscription {SubscriptionId} confirmed on {Address}")]
    public static partial void Confirmed(ILogger logger, string subscriptionId, Uri address);

    [LoggerMessage(
        EventId = 7010,
        Level = LogLevel.Warning,
        Message = "Consumer of subscription {SubscriptionId} failed on {Topic}#{Sequence} (attempt {Attempt}); "
            + "it will be redelivered")]
    public static partial void ProcessingFailed(
        ILogger logger,
        string subscriptionId,
        string topic,
        long sequence,
        int attempt,
        Exception? exception);

    [LoggerMessage(
        EventId = 7011,
        Level = LogLevel.Error,
        Message = "Consumer of subscription {SubscriptionId} failed on {Topic}#{Sequence} {Attempts} times: "
            + "acknowledged and given up")]
    public static partial void ProcessingGivenUp(
        ILogger logger,
        string subscriptionId,
        string topic,
        long sequence,
        int attempts,
        Exception? exception);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Warning, Message = "An event handler of the client threw")]
    public static partial void HandlerThrew(ILogger logger, Exception exception);

    [LoggerMessage(
        EventId = 7013,
        Level = LogLevel.Warning,
        Message = "Publish to {Address} failed ({Status}); retrying in {DelayMs} ms (attempt {Attempt})")]
    public static partial void PublishRetry(ILogger logger, Uri address, string status, long delayMs, int attempt);

    [LoggerMessage(EventId = 7014, Level = LogLevel.Debug, Message = "Subscription {SubscriptionId} unsubscribed")]
    public static partial void Unsubscribed(ILogger logger, string subscriptionId);

    [LoggerMessage(
        EventId = 7015,
        Level = LogLevel.Debug,
        Message = "Extended {Topic}#{SequenceNum} of subscription {SubscriptionId} by {ExtendMs} ms while its handler "
            + "runs")]
    public static partial void AutoExtended(
        ILogger logger,
        string topic,
        long sequenceNum,
        string subscriptionId,
        long extendMs);

    [LoggerMessage(
        EventId = 7016,
        Level = LogLevel.Warning,
        Message = "Stopped extending {Topic}#{SequenceNum} of subscription {SubscriptionId} after {TotalMs} ms "
            + "(MaxAutoExtension): the gateway redelivers it when its ack deadline passes")]
    public static partial void AutoExtensionLimit(
        ILogger logger,
        string topic,
        long sequenceNum,
        string subscriptionId,
        long totalMs);

    [LoggerMessage(
        EventId = 7017,
        Level = LogLevel.Debug,
        Message = "{Verb} of {Topic}#{SequenceNum} of subscription {SubscriptionId} not sent: the stream it came on "
            + "has ended (the resumed stream's copy is handed over again)")]
    public static partial void SettleNotSent(
        ILogger logger,
        string verb,
        string topic,
        long sequenceNum,
        string subscriptionId);

    [LoggerMessage(
        EventId = 7018,
        Level = LogLevel.Information,
        Message = "Durable subscription {SubscriptionId} is still held by the stream that ended "
            + "(ERROR_DURABLE_CONFLICT): subscribing again in {DelayMs} ms (attempt {Attempt})")]
    public static partial void DurableStillHeld(ILogger logger, string subscriptionId, long delayMs, int attempt);
}
