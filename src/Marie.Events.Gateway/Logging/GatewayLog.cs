using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Logging;

/// <summary>
/// The gateway host's log lines, source-generated. Event ids are stable (the ledger is in docs/configuration.md):
/// 1000-1099 event streams (1100-1199 is the broker's), 2xxx auth, 3xxx host lifecycle and configuration, 4xxx
/// publishing; 5xxx is the Toast pipeline's (Toast/ToastLog.cs), 6xxx the security lines' (SecurityLog).
/// Lines Marie-AI's gateway also writes keep its words (the ledger quotes them): operators' log searches match them.
/// </summary>
internal static partial class GatewayLog
{
    // ---------------------------------------------------------------- streams (1xxx)

    [LoggerMessage(
        EventId = 1001,
        Level = LogLevel.Information,
        Message = "New event stream connection: {ConnectionId}")]
    public static partial void StreamOpened(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Connection closed: {ConnectionId}")]
    public static partial void StreamClosed(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Event stream {ConnectionId} failed")]
    public static partial void StreamFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(
        EventId = 1004,
        Level = LogLevel.Debug,
        Message = "Event stream {ConnectionId}: client completed its request stream; still sending")]
    public static partial void StreamRequestsCompleted(ILogger logger, string connectionId);

    [LoggerMessage(
        EventId = 1005,
        Level = LogLevel.Debug,
        Message = "Event stream {ConnectionId} ended by gateway shutdown")]
    public static partial void StreamEndedByShutdown(ILogger logger, string connectionId);

    // ---------------------------------------------------------------- auth (2xxx)

    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "gRPC auth failed: invalid or missing token")]
    public static partial void GrpcAuthFailed(ILogger logger);

    [LoggerMessage(
        EventId = 2002,
        Level = LogLevel.Debug,
        Message = "gRPC auth failure on {Method} from {Peer}: {Reason}")]
    public static partial void GrpcAuthFailureDetail(ILogger logger, string method, string peer, string reason);

    [LoggerMessage(
        EventId = 2003,
        Level = LogLevel.Warning,
        Message = "gRPC permission denied: key '{KeyName}' may not call {Method} (needs role publisher or admin)")]
    public static partial void GrpcPermissionDenied(ILogger logger, string keyName, string method);

    [LoggerMessage(
        EventId = 2004,
        Level = LogLevel.Warning,
        Message = "Admin API auth failed: invalid or missing token")]
    public static partial void AdminAuthFailed(ILogger logger);

    [LoggerMessage(
        EventId = 2005,
        Level = LogLevel.Warning,
        Message = "Admin API permission denied: key '{KeyName}' is not an admin key")]
    public static partial void AdminPermissionDenied(ILogger logger, string keyName);

    [LoggerMessage(
        EventId = 2010,
        Level = LogLevel.Information,
        Message = "Auth: {Count} API keys configured ({Enabled} enabled)")]
    public static partial void KeysConfigured(ILogger logger, int count, int enabled);

    [LoggerMessage(
        EventId = 2011,
        Level = LogLevel.Warning,
        Message = "No auth.keys configured: created development keys (admin, publisher, subscriber) in {Path}; they " +
            "were printed once above. Configure auth.keys for a real deployment")]
    public static partial void DevKeysCreated(ILogger logger, string path);

    [LoggerMessage(
        EventId = 2012,
        Level = LogLevel.Warning,
        Message = "No auth.keys configured: development keys in use, from {Path}. " +
            "Configure auth.keys for a real deployment")]
    public static partial void DevKeysInUse(ILogger logger, string path);

    // ---------------------------------------------------------------- host and configuration (3xxx)

    [LoggerMessage(
        EventId = 3001,
        Level = LogLevel.Information,
        Message = "Marie Event Stream gateway listening: gRPC ({GrpcProtocol}) on {GrpcEndpoint}, admin API " +
            "({AdminProtocol}) on {AdminEndpoint}")]
    public static partial void Listening(
        ILogger logger,
        string grpcProtocol,
        string grpcEndpoint,
        string adminProtocol,
        string adminEndpoint);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Configuration: {Source}")]
    public static partial void ConfigurationSource(ILogger logger, string source);

    // 3003 is retired and not reused (operators may still search old logs for it); the Toast pipeline logs 5xxx.

    [LoggerMessage(
        EventId = 3004,
        Level = LogLevel.Information,
        Message = "toast.grpc.enabled is false: EventStreamService is not served; EventPublisherService feeds the " +
            "other toast handlers")]
    public static partial void GrpcDisabled(ILogger logger);

    [LoggerMessage(
        EventId = 3005,
        Level = LogLevel.Information,
        Message = "Gateway stopping: health set to NOT_SERVING")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(
        EventId = 3006,
        Level = LogLevel.Information,
        Message = "Backend {Backend} loaded {Topics} topics ({Events} events) into the replay rings")]
    public static partial void BackendStarted(ILogger logger, string backend, int topics, long events);

    // ---------------------------------------------------------------- publishing (4xxx)

    [LoggerMessage(
        EventId = 4001,
        Level = LogLevel.Debug,
        Message = "Published {EventId} as #{SequenceNum} of its topic (key '{KeyName}')")]
    public static partial void Published(ILogger logger, string eventId, long sequenceNum, string keyName);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Debug, Message = "Publish rejected: {Reason}")]
    public static partial void PublishRejected(ILogger logger, string reason);
}
