using Microsoft.Extensions.Logging;

namespace Marie.Events.Backends.File;

/// <summary>The file backend's log lines (event ids 8100-8199).</summary>
internal static partial class FileBackendLog
{
    [LoggerMessage(
        EventId = 8100,
        Level = LogLevel.Information,
        Message =
            "File backend loaded {Topics} topics and {Events} events from {File} in {ElapsedMs} ms (fsync {Fsync})")]
    public static partial void Loaded(
        this ILogger logger,
        int topics,
        long events,
        string file,
        long elapsedMs,
        FsyncMode fsync);

    [LoggerMessage(
        EventId = 8101,
        Level = LogLevel.Error,
        Message = "File backend write to {File} failed; {Items} appends of {Topics} topics failed and their "
            + "numbers were given back")]
    public static partial void WriteFailed(
        this ILogger logger,
        Exception exception,
        string file,
        int items,
        int topics);

    [LoggerMessage(
        EventId = 8102,
        Level = LogLevel.Warning,
        Message = "File backend: topic {Topic} holds event {Sequence} above its stored head {Head}; the head is taken "
            + "as {Sequence} so no number is reused")]
    public static partial void EventAboveHead(this ILogger logger, string topic, long sequence, long head);

    [LoggerMessage(
        EventId = 8103,
        Level = LogLevel.Warning,
        Message = "File backend: the ring of topic {Topic} missed events before {Sequence}; applied with a gap")]
    public static partial void RingGap(this ILogger logger, string topic, long sequence);

    [LoggerMessage(
        EventId = 8104,
        Level = LogLevel.Warning,
        Message = "File backend: periodic fsync (checkpoint) of {File} failed")]
    public static partial void SyncFailed(this ILogger logger, Exception exception, string file);

    [LoggerMessage(
        EventId = 8106,
        Level = LogLevel.Information,
        Message = "File backend: moved {Events} events of {File} from one row per event to one row per append")]
    public static partial void Upgraded(this ILogger logger, long events, string file);

    [LoggerMessage(EventId = 8105, Level = LogLevel.Information, Message = "File backend closed {File}")]
    public static partial void Closed(this ILogger logger, string file);

    [LoggerMessage(
        EventId = 8110,
        Level = LogLevel.Warning,
        Message = "File backend: {Count} rows of table dead_letters in {File} are not readable dead letters; "
            + "left out")]
    public static partial void DeadLettersUnreadable(this ILogger logger, int count, string file);
}
