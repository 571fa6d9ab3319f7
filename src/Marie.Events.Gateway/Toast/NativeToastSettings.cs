using Marie.Events.Gateway.Configuration;

namespace Marie.Events.Gateway.Toast;

/// <summary>The native handler's settings, from <c>toast.native.*</c>.</summary>
/// <param name="Path">The file events are appended to (full path).</param>
/// <param name="MaxBytes">Size at which the file is rotated: a line that would take it past this size goes to a
/// fresh file.</param>
/// <param name="MaxFiles">Rotated files kept (<c>PATH.1</c> newest … <c>PATH.N</c> oldest); 0 = none kept.</param>
/// <param name="QueueMaxSize">Lines waiting to be written at most; when full, an event is not recorded (warning,
/// counted) rather than slowing the publishers.</param>
/// <param name="Events">Event-name prefixes recorded, or <c>*</c>.</param>
internal sealed record NativeToastSettings(
    string Path,
    long MaxBytes,
    int MaxFiles,
    int QueueMaxSize,
    IReadOnlyList<string> Events)
{
    /// <summary>64 MiB: a day of a busy tenant's events in a file that an editor still opens.</summary>
    public const long DefaultMaxBytes = 64L * 1024 * 1024;

    /// <summary>Five rotated files: with the default size, at most 384 MiB on disk in all.</summary>
    public const int DefaultMaxFiles = 5;

    /// <summary><c>toast.native.queue_maxsize</c> default: the same as <c>toast.grpc.queue.maxsize</c>'s.</summary>
    public const int DefaultQueueMaxSize = 4096;

    /// <summary>The file name under <c>gateway.state_dir</c> when <c>toast.native.path</c> is not set.</summary>
    public const string DefaultFileName = "native-events.jsonl";

    /// <summary>From validated options; <paramref name="stateDir"/> places the default file.</summary>
    public static NativeToastSettings From(ToastNativeOptions native, string stateDir) => new(
        System.IO.Path.GetFullPath(native.Path ?? System.IO.Path.Combine(stateDir, DefaultFileName)),
        native.MaxBytes,
        native.MaxFiles,
        native.QueueMaxSize,
        native.Events is { Count: > 0 } events ? [.. events] : ["*"]);
}
