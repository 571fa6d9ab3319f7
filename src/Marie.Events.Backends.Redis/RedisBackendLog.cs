using Microsoft.Extensions.Logging;

namespace Marie.Events.Backends.Redis;

/// <summary>The Redis backend's log lines (cluster mode). Event ids 8000-8099 are its own and never change
/// meaning.</summary>
internal static partial class RedisBackendLog
{
    [LoggerMessage(
        EventId = 8001,
        Level = LogLevel.Information,
        Message = "Cluster mode: gateway {Node} on Redis {Endpoints}, key prefix '{Prefix}'; loaded {Topics} topics "
            + "({Events} events) from the shared log")]
    public static partial void Started(
        ILogger logger,
        string node,
        string endpoints,
        string prefix,
        int topics,
        long events);

    [LoggerMessage(
        EventId = 8002,
        Level = LogLevel.Warning,
        Message =
            "Cluster mode: connection to Redis lost ({FailureType}): publishes are retried, open streams stay up")]
    public static partial void ConnectionLost(
        ILogger logger,
        StackExchange.Redis.ConnectionFailureType failureType,
        Exception? exception);

    [LoggerMessage(
        EventId = 8003,
        Level = LogLevel.Information,
        Message = "Cluster mode: connection to Redis restored ({ConnectionType}); catching up every "
            + "topic from the shared log")]
    public static partial void ConnectionRestored(ILogger logger, StackExchange.Redis.ConnectionType connectionType);

    [LoggerMessage(
        EventId = 8004,
        Level = LogLevel.Debug,
        Message = "Cluster mode: topic {Topic} filled {Count} events up to #{Sequence} from the shared log")]
    public static partial void GapFilled(ILogger logger, string topic, int count, long sequence);

    [LoggerMessage(
        EventId = 8005,
        Level = LogLevel.Warning,
        Message = "Cluster mode: topic {Topic} has a new epoch {Epoch} in Redis (Redis lost its data): the topic "
            + "starts over, {Connections} streams closed so their clients resume")]
    public static partial void EpochChanged(ILogger logger, string topic, string epoch, int connections);

    [LoggerMessage(
        EventId = 8006,
        Level = LogLevel.Error,
        Message = "Cluster mode: applying the shared log failed; a catch-up follows")]
    public static partial void ApplyFailed(ILogger logger, Exception exception);

    [LoggerMessage(
        EventId = 8007,
        Level = LogLevel.Warning,
        Message = "Cluster mode: ignored an unreadable announcement on the fan-out channel ({Bytes} bytes)")]
    public static partial void BadAnnouncement(ILogger logger, int bytes);

    [LoggerMessage(
        EventId = 8008,
        Level = LogLevel.Warning,
        Message = "Cluster mode: topic {Topic} event #{Sequence} not applied here: {Reason}")]
    public static partial void NotApplied(ILogger logger, string topic, long sequence, string reason);

    [LoggerMessage(
        EventId = 8009,
        Level = LogLevel.Warning,
        Message = "Cluster mode: the periodic catch-up found {Events} events of {Topics} topics in Redis that no "
            + "announcement brought here (PUB/SUB lost them); applied from the shared log")]
    public static partial void AuditFilled(ILogger logger, long events, int topics);

    [LoggerMessage(
        EventId = 8010,
        Level = LogLevel.Warning,
        Message = "Cluster mode: topic {Topic} append from #{Sequence} confirmed by {Confirmed} of {Required} "
            + "replicas (toast.grpc.broker.redis.ack_replicas): not acknowledged, retried")]
    public static partial void ReplicasShort(ILogger logger, string topic, long sequence, long confirmed, int required);

    [LoggerMessage(
        EventId = 8020,
        Level = LogLevel.Warning,
        Message = "Cluster mode: {Count} dead letters stored in Redis are not readable; left out")]
    public static partial void DeadLettersUnreadable(ILogger logger, int count);

    [LoggerMessage(
        EventId = 8030,
        Level = LogLevel.Information,
        Message = "Cluster mode: {Moved} dead letters moved to the shared layout (a hash and a sorted set per key), "
            + "{Unreadable} unreadable ones dropped; gateways of builds before it no longer see them")]
    public static partial void DeadLettersUpgraded(ILogger logger, int moved, int unreadable);
}
