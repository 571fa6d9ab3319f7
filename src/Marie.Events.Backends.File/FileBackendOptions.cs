namespace Marie.Events.Backends.File;

/// <summary>When the file backend forces its writes to disk.</summary>
public enum FsyncMode
{
    /// <summary>Every commit fsyncs the write-ahead log before any event of it is acknowledged or offered to a
    /// subscriber (SQLite <c>synchronous=FULL</c>): a crash (process, OS or power) loses nothing
    /// acknowledged.</summary>
    Always,

    /// <summary>Commits are not fsynced one by one (<c>synchronous=NORMAL</c>); every
    /// <see cref="FileBackendOptions.FsyncIntervalMs"/> a passive checkpoint fsyncs the log. A process crash loses
    /// nothing (the OS holds the writes); an OS crash or power loss can lose the events acknowledged within the last
    /// interval (plus the commit in flight).</summary>
    Interval,

    /// <summary>The backend never asks for an fsync of its own (<c>synchronous=NORMAL</c>; only SQLite's automatic
    /// checkpoints sync). A process crash loses nothing; an OS crash or power loss loses whatever the OS had not
    /// written back yet (typically up to about 30 seconds on Linux).</summary>
    Never,
}

/// <summary>Settings of the file backend (<c>toast.grpc.broker.file.*</c>).</summary>
public sealed class FileBackendOptions
{
    /// <summary>The configuration key of <see cref="Path"/>, named in start-up errors.</summary>
    public const string PathKey = "toast.grpc.broker.file.path";

    /// <summary>The folder holding the database (<c>events.db</c> and its <c>-wal</c> and <c>-shm</c> files); created
    /// when missing.</summary>
    public string Path { get; set; } = "data";

    /// <summary>Events kept per topic (at least the broker's <c>replay_size</c>): older ones are deleted as new ones
    /// come, and the last this many of each topic are loaded into the rings at start-up.</summary>
    public int ReplaySize { get; set; } = 200;

    /// <summary>When writes are forced to disk; see <see cref="FsyncMode"/> for what a crash can lose.</summary>
    public FsyncMode Fsync { get; set; } = FsyncMode.Always;

    /// <summary>With <see cref="FsyncMode.Interval"/>: milliseconds between fsyncs.</summary>
    public int FsyncIntervalMs { get; set; } = 100;
}
