using Microsoft.Extensions.Logging;

namespace Marie.Events.Broker;

/// <summary>The broker's log lines. Event ids 1100-1199 are the broker's and never change meaning (the ledger is in
/// docs/configuration.md, "Logging").</summary>
internal static partial class BrokerLog
{
    [LoggerMessage(EventId = 1101, Level = LogLevel.Information,
        Message = "Subscription created: {SubscriptionId} topics={Topics}")]
    public static partial void SubscriptionCreated(this ILogger logger, string subscriptionId, string topics);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "Subscription removed: {SubscriptionId}")]
    public static partial void SubscriptionRemoved(this ILogger logger, string subscriptionId);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning,
        Message = "Event {AckId} dropped after {Attempts} attempts "
            + "(subscription {SubscriptionId}, topic {Topic}, sequence {Sequence})")]
    public static partial void EventDropped(
        this ILogger logger,
        string ackId,
        int attempts,
        string subscriptionId,
        string topic,
        long sequence);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning,
        Message = "Subscription {SubscriptionId} missed events {FirstMissed}..{LastMissed} of topic {Topic}: "
            + "the replay ring overwrote them before delivery")]
    public static partial void EventsLost(
        this ILogger logger,
        string subscriptionId,
        string topic,
        long firstMissed,
        long lastMissed);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Debug,
        Message = "Rejected client message on connection {ConnectionId}: {Code} {Reason}")]
    public static partial void ClientMessageRejected(
        this ILogger logger,
        string connectionId,
        string code,
        string reason);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Debug, Message = "Topic created: {Topic} epoch={Epoch}")]
    public static partial void TopicCreated(this ILogger logger, string topic, string epoch);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Debug,
        Message = "Backpressure on subscription {SubscriptionId}: {Pending} pending, recommended delay {DelayMs} ms")]
    public static partial void Backpressure(this ILogger logger, string subscriptionId, int pending, int delayMs);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Information,
        Message = "Subscription {SubscriptionId}: topic {Topic} epoch changed from {ExpectedEpoch} to {CurrentEpoch}, "
            + "replaying from the start of the ring")]
    public static partial void EpochChanged(
        this ILogger logger,
        string subscriptionId,
        string topic,
        string expectedEpoch,
        string currentEpoch);

    [LoggerMessage(EventId = 1109, Level = LogLevel.Information,
        Message = "Subscription {SubscriptionId} on connection {ConnectionId} closed: "
            + "its key may no longer see topic {Topic}")]
    public static partial void SubscriptionRevoked(
        this ILogger logger,
        string subscriptionId,
        string connectionId,
        string topic);

    [LoggerMessage(EventId = 1110, Level = LogLevel.Debug,
        Message = "Connection {ConnectionId} over limit {Limit}: {Reason}")]
    public static partial void LimitExceeded(this ILogger logger, string connectionId, string limit, string reason);

    [LoggerMessage(EventId = 1111, Level = LogLevel.Warning,
        Message = "Topic {Topic} reset: the shared log's epoch changed from {OldEpoch} to {NewEpoch}; "
            + "{Connections} connections with subscriptions on it closed so their clients resume")]
    public static partial void TopicReset(
        this ILogger logger,
        string topic,
        string oldEpoch,
        string newEpoch,
        int connections);

    [LoggerMessage(EventId = 1112, Level = LogLevel.Warning,
        Message = "Event {AckId} dead-lettered as {DeadLetterId} (key {Key}, reason {ReasonCode}, "
            + "dead-lettered {Count} times): see it at GET /internal/dead-letters/{DeadLetterId} on the admin port")]
    public static partial void EventDeadLettered(
        this ILogger logger,
        string ackId,
        string deadLetterId,
        string key,
        string reasonCode,
        int count);

    [LoggerMessage(EventId = 1113, Level = LogLevel.Information,
        Message = "Dead letter {DeadLetterId} of key {Key} replayed to subscription {SubscriptionId} "
            + "on connection {ConnectionId}")]
    public static partial void DeadLetterReplayed(
        this ILogger logger,
        string deadLetterId,
        string key,
        string subscriptionId,
        string connectionId);

    [LoggerMessage(EventId = 1114, Level = LogLevel.Information,
        Message = "Dead letter {DeadLetterId} of key {Key} not replayed: {Code}")]
    public static partial void DeadLetterReplayRefused(this ILogger logger, string deadLetterId, string key,
        string code);

    [LoggerMessage(EventId = 1115, Level = LogLevel.Information, Message = "{Count} dead letters of key {Key} purged")]
    public static partial void DeadLettersPurged(this ILogger logger, int count, string key);

    [LoggerMessage(EventId = 1116, Level = LogLevel.Information,
        Message = "Durable subscription {DurableName} of key {Key} created (group '{Group}')")]
    public static partial void DurableCreated(this ILogger logger, string durableName, string key, string group);

    [LoggerMessage(EventId = 1117, Level = LogLevel.Information,
        Message = "Durable subscription {DurableName} of key {Key} removed: no stream held it for {TtlSeconds} s "
            + "(durable.inactive_ttl_s)")]
    public static partial void DurableExpired(this ILogger logger, string durableName, string key, long ttlSeconds);

    [LoggerMessage(EventId = 1118, Level = LogLevel.Information,
        Message = "Durable subscription {DurableName} of key {Key} deleted")]
    public static partial void DurableDeleted(this ILogger logger, string durableName, string key);

    [LoggerMessage(EventId = 1119, Level = LogLevel.Information,
        Message = "Durable subscription {DurableName} of key {Key}: stream {ConnectionId} left, "
            + "{HandedOver} unacknowledged events handed to the other members")]
    public static partial void DurableMemberLeft(this ILogger logger, string durableName, string key,
        string connectionId, int handedOver);

    [LoggerMessage(EventId = 1120, Level = LogLevel.Warning,
        Message = "Durable subscription {DurableName} of key {Key}: stream {ConnectionId} went silent, "
            + "{HandedOver} unacknowledged events handed to the other members")]
    public static partial void DurableMemberSilent(this ILogger logger, string durableName, string key,
        string connectionId, int handedOver);

    [LoggerMessage(EventId = 1121, Level = LogLevel.Warning,
        Message = "Durable subscription {DurableName} of key {Key}: saving its state failed, retried at the next "
            + "interval: {Reason}")]
    public static partial void DurableStoreFailed(this ILogger logger, string durableName, string key,
        string reason);

    [LoggerMessage(EventId = 1122, Level = LogLevel.Information,
        Message = "{Count} durable subscriptions loaded from the backend")]
    public static partial void DurablesLoaded(this ILogger logger, int count);

    [LoggerMessage(EventId = 1123, Level = LogLevel.Debug,
        Message = "Durable subscription {DurableName} of key {Key} is held by gateway {Holder} (its lease runs "
            + "{RemainingMs} ms more unless renewed): subscribe refused")]
    public static partial void DurableHeldElsewhere(this ILogger logger, string durableName, string key,
        string holder, long remainingMs);

    [LoggerMessage(EventId = 1124, Level = LogLevel.Warning,
        Message = "Durable subscription {DurableName} of key {Key}: this gateway lost its lease ({Reason}); its "
            + "{Members} subscriptions here were closed and nothing of it is delivered here any more")]
    public static partial void DurableLeaseLost(this ILogger logger, string durableName, string key, string reason,
        int members);

    [LoggerMessage(EventId = 1125, Level = LogLevel.Warning,
        Message = "Durable subscription {DurableName} of key {Key}: renewing its lease failed, tried again in "
            + "{RetryMs} ms (the subscription is closed here if that fails too): {Reason}")]
    public static partial void DurableLeaseRenewFailed(this ILogger logger, string durableName, string key,
        long retryMs, string reason);

    [LoggerMessage(EventId = 1126, Level = LogLevel.Warning,
        Message = "Durable subscription {DurableName} of key {Key}: its lease could not be taken, subscribe "
            + "refused: {Reason}")]
    public static partial void DurableLeaseUnavailable(this ILogger logger, string durableName, string key,
        string reason);

    [LoggerMessage(EventId = 1127, Level = LogLevel.Warning,
        Message = "Durable subscription {DurableName} of key {Key}: giving back its lease failed; it expires "
            + "within {TtlMs} ms: {Reason}")]
    public static partial void DurableLeaseReleaseFailed(this ILogger logger, string durableName, string key,
        long ttlMs, string reason);

    [LoggerMessage(EventId = 1140, Level = LogLevel.Warning,
        Message = "Dead letters: writing the {Change} of dead letter {Id} (key {Key}) to the backend failed "
            + "({Failures} failures since start, {Pending} changes waiting), tried again in {RetryMs} ms: {Reason}")]
    public static partial void DeadLetterWriteFailed(this ILogger logger, string change, string id, string key,
        long failures, int pending, long retryMs, string reason);

    [LoggerMessage(EventId = 1141, Level = LogLevel.Information,
        Message = "{Count} dead letters loaded from the backend ({Dropped} of them over retention, removed)")]
    public static partial void DeadLettersLoaded(this ILogger logger, int count, long dropped);

    [LoggerMessage(EventId = 1142, Level = LogLevel.Warning,
        Message = "Dead letters: {Pending} changes not written to the backend at stop ({Failures} failures since "
            + "start): the next start lists them as they were before those changes")]
    public static partial void DeadLettersNotFlushed(this ILogger logger, int pending, long failures);

    [LoggerMessage(EventId = 1143, Level = LogLevel.Information,
        Message = "Dead letters are in a store the gateways of the cluster share: {Count} held there now, every list, "
            + "replay and purge answered from it")]
    public static partial void DeadLettersShared(this ILogger logger, long count);

    [LoggerMessage(EventId = 1144, Level = LogLevel.Warning,
        Message = "Dead letters: reading the depth of the shared store failed (the stats keep the last figures): "
            + "{Reason}")]
    public static partial void DeadLetterMeasureFailed(this ILogger logger, string reason);

    [LoggerMessage(EventId = 1145, Level = LogLevel.Information,
        Message = "Dead letter {Id} of key {Key} not replayed here: another call (on this gateway or another) "
            + "replayed or purged it first")]
    public static partial void DeadLetterClaimLost(this ILogger logger, string id, string key);
}
