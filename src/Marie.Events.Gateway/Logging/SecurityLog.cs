using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Logging;

/// <summary>
/// The gateway's security lines (tenant isolation, key reloads and revocation, limits, TLS), source-generated.
/// Event ids 6000-6999, stable, documented in docs/configuration.md and docs/security.md. A key is named by its
/// name or its fingerprint, never by the key.
/// </summary>
internal static partial class SecurityLog
{
    [LoggerMessage(
        EventId = 6001,
        Level = LogLevel.Warning,
        Message = "{Count} more {Kind} auth failures were not logged one by one (at most 10 a second are)")]
    public static partial void AuthFailuresSuppressed(ILogger logger, long count, string kind);

    [LoggerMessage(
        EventId = 6002,
        Level = LogLevel.Warning,
        Message = "gRPC permission denied: key '{KeyName}' may not call {Method} (needs role subscriber or admin)")]
    public static partial void SubscribePermissionDenied(ILogger logger, string keyName, string method);

    [LoggerMessage(
        EventId = 6016,
        Level = LogLevel.Warning,
        Message = "gRPC permission denied: key '{KeyName}' may not call {Method} (needs role admin)")]
    public static partial void AdminGrpcPermissionDenied(ILogger logger, string keyName, string method);

    [LoggerMessage(
        EventId = 6003,
        Level = LogLevel.Information,
        Message = "API keys reloaded from {Path}: {Count} keys ({Enabled} enabled)")]
    public static partial void KeysReloaded(ILogger logger, string path, int count, int enabled);

    [LoggerMessage(
        EventId = 6004,
        Level = LogLevel.Error,
        Message = "API keys not reloaded from {Path}, the previous keys stay in force: {Reason}")]
    public static partial void KeysReloadRejected(ILogger logger, string path, string reason);

    [LoggerMessage(
        EventId = 6005,
        Level = LogLevel.Warning,
        Message = "Stream {ConnectionId} of key '{KeyName}' closed with {Status}: {Reason}")]
    public static partial void StreamRevoked(
        ILogger logger,
        string connectionId,
        string keyName,
        string status,
        string reason);

    [LoggerMessage(
        EventId = 6006,
        Level = LogLevel.Information,
        Message = "Stream {ConnectionId} of key '{KeyName}' now sees topics {Access}")]
    public static partial void StreamAccessChanged(ILogger logger, string connectionId, string keyName, string access);

    [LoggerMessage(
        EventId = 6007,
        Level = LogLevel.Warning,
        Message = "Key '{KeyName}' disabled at run time by admin key '{AdminName}'")]
    public static partial void KeyDisabledAtRunTime(ILogger logger, string keyName, string adminName);

    [LoggerMessage(
        EventId = 6008,
        Level = LogLevel.Information,
        Message = "Key '{KeyName}' enabled again at run time by admin key '{AdminName}'")]
    public static partial void KeyEnabledAtRunTime(ILogger logger, string keyName, string adminName);

    [LoggerMessage(
        EventId = 6009,
        Level = LogLevel.Warning,
        Message = "Key '{KeyName}' refused a new stream: limit max_streams_per_key ({Max}) reached")]
    public static partial void StreamLimitReached(ILogger logger, string keyName, int max);

    [LoggerMessage(
        EventId = 6010,
        Level = LogLevel.Debug,
        Message = "Stream {ConnectionId} authenticated as key '{KeyName}' ({Fingerprint}), topics {Access}")]
    public static partial void StreamKey(
        ILogger logger,
        string connectionId,
        string keyName,
        string fingerprint,
        string access);

    [LoggerMessage(
        EventId = 6011,
        Level = LogLevel.Warning,
        Message = "Publish denied: key '{KeyName}' may not publish to topic '{Topic}'")]
    public static partial void PublishDenied(ILogger logger, string keyName, string topic);

    [LoggerMessage(
        EventId = 6012,
        Level = LogLevel.Information,
        Message = "TLS on: certificate {Subject} (thumbprint {Thumbprint}), valid until {NotAfter:u}")]
    public static partial void TlsEnabled(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Information, Message = "Watching {Path} for API key changes")]
    public static partial void WatchingConfiguration(ILogger logger, string path);

    [LoggerMessage(
        EventId = 6014,
        Level = LogLevel.Debug,
        Message = "Stream {ConnectionId} of key '{KeyName}': refused a topic holding another API key")]
    public static partial void ForeignKeyTopicRefused(ILogger logger, string connectionId, string keyName);

    [LoggerMessage(EventId = 6015, Level = LogLevel.Debug, Message = "{Call} refused for key '{KeyName}': {Reason}")]
    public static partial void CallRefused(ILogger logger, string call, string keyName, string reason);
}
