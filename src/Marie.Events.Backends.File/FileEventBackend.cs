using System.Diagnostics;
using Google.Protobuf;
using System.Security.Cryptography;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Marie.Events.Backends.File;

/// <summary>
/// The durable backend (<c>toast.grpc.broker.backend: file</c>): one SQLite database, <c>events.db</c> in
/// <see cref="FileBackendOptions.Path"/>, in WAL mode. Tables <c>topics(topic, epoch, head)</c> and
/// <c>blocks(topic, first_seq, last_seq, published_ms, data)</c>, one row per append (<see cref="EventBlock"/>); each
/// topic keeps at least its last
/// <see cref="FileBackendOptions.ReplaySize"/> events, and they are loaded into the broker's rings at start-up, so
/// sequence numbers and epochs continue across restarts.
/// </summary>
/// <remarks>
/// <para>Group commit: an append is numbered under its topic's lock and queued; one writer thread takes everything
/// queued (all topics) and writes it in one transaction, commits, then applies each append to the rings in order and
/// acknowledges it. Batches are formed from what is waiting, never by waiting on a timer.</para>
/// <para>What a crash can lose, by <see cref="FileBackendOptions.Fsync"/>: <see cref="FsyncMode.Always"/> (every
/// commit fsyncs the WAL before its events are acknowledged or offered): nothing acknowledged.
/// <see cref="FsyncMode.Interval"/>: after an OS crash or power loss, up to the last
/// <see cref="FileBackendOptions.FsyncIntervalMs"/> of acknowledged events; a process crash loses nothing.
/// <see cref="FsyncMode.Never"/>: after an OS crash or power loss, whatever the OS had not written back; a process
/// crash loses nothing. In every mode SQLite ignores a torn tail of the log (frames after the last complete
/// commit), so what is recovered is a contiguous prefix of what was written.</para>
/// <para>A failed write (disk full, I/O error, read-only file) fails every append of its batch with a
/// <see cref="BackendException"/>, gives their numbers back (a retry gets the same ones) and is counted in
/// <see cref="WriteFailures"/>; reads keep working.</para>
/// </remarks>
public sealed partial class FileEventBackend : IEventBackend, IDurableStore
{
    /// <summary>The backend's configured name.</summary>
    public const string BackendName = "file";

    /// <summary>The database's file name in <see cref="FileBackendOptions.Path"/>.</summary>
    public const string DatabaseFileName = "events.db";

    /// <summary>Trim a topic's old events at most once per this many of its appends.</summary>
    internal const int TrimEvery = 32;

    /// <summary>Events loaded per <see cref="IEventBackendListener.Apply"/> call at start-up.</summary>
    private const int LoadChunk = 1_000;

    /// <summary>At most this many topic parts load at once: past the cores' count a part only waits.</summary>
    private const int MaxLoadParts = 4;

    /// <summary>A store of fewer than twice this many topics loads in one part: a thread costs more than it
    /// saves.</summary>
    private const int MinTopicsPerLoadPart = 64;

    /// <summary>Appends queued at most; more wait for room.</summary>
    private const int QueueCapacity = 8_192;

    private readonly FileBackendOptions _options;
    private readonly ILogger _log;
    private readonly Dictionary<string, TopicState> _topics = new(StringComparer.Ordinal);
    private readonly Lock _topicsGate = new();
    private SqliteDurableStore? _durables;
    private SqliteDeadLetterStore? _deadLetters;
    private readonly object _queueGate = new();
    private readonly SemaphoreSlim _room = new(QueueCapacity, QueueCapacity);
    private List<PendingAppend> _queue = [];
    private bool _stopping;
    private SqliteEventStore? _store;
    private IEventBackendListener? _listener;
    private Thread? _writer;
    private long _writeFailures;
    private long _commits;
    private int _disposed;
    private long _writeTicks;

    /// <summary>A file backend; nothing is opened until <see cref="StartAsync"/>.</summary>
    /// <param name="options">Settings.</param>
    /// <param name="logger">Where log lines go; nowhere by default.</param>
    public FileEventBackend(FileBackendOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Path);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ReplaySize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.FsyncIntervalMs, 1);
        _options = options;
        _log = logger ?? NullLogger.Instance;
        DatabaseFile = System.IO.Path.Combine(System.IO.Path.GetFullPath(options.Path), DatabaseFileName);
    }

    /// <inheritdoc />
    public string Name => BackendName;

    /// <summary>The database file (<c>events.db</c> in the configured folder).</summary>
    public string DatabaseFile { get; }

    /// <summary>Writes that failed (each failed every append of its batch).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>Transactions committed.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Time the writer spent in write transactions (insert to commit).</summary>
    internal TimeSpan WriteTime => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _writeTicks));

    /// <summary>Test seam: runs inside each write transaction before it commits; throwing fails the write.</summary>
    internal Action? BeforeCommit
    {
        get => Store.BeforeCommit;
        set => Store.BeforeCommit = value;
    }

    private SqliteEventStore Store =>
        _store
            ?? throw new InvalidOperationException(
                "the file backend is not started: start its broker (GrpcEventBroker.StartAsync) first");

    /// <inheritdoc />
    public string InitialEpoch(string topic) => NewEpoch();

    /// <inheritdoc />
    public Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listener);
        if (_store is not null)
        {
            throw new InvalidOperationException("the file backend is started already");
        }

        var clock = Stopwatch.StartNew();
        var folder = System.IO.Path.GetDirectoryName(DatabaseFile)!;
        EnsureWritableFolder(folder);
        var store = SqliteEventStore.Open(DatabaseFile, _options.Fsync);
        if (store.Upgraded > 0)
        {
            _log.Upgraded(store.Upgraded, DatabaseFile);
        }

        long loaded;
        List<StoredTopic> topics;
        try
        {
            topics = store.LoadTopics();
            loaded = Load(store, topics, listener, cancellationToken);
        }
        catch (Exception e) when (e is SqliteException or InvalidDataException)
        {
            store.Dispose();
            throw new BackendException(
                $"the file backend cannot read its database {DatabaseFile} ({e.Message}): move it away to start empty, "
                    + "or restore it from a backup",
                e);
        }
        catch
        {
            store.Dispose();
            throw;
        }

        try
        {
            _durables = SqliteDurableStore.Open(DatabaseFile);
            _deadLetters = SqliteDeadLetterStore.Open(DatabaseFile);
        }
        catch (SqliteException e)
        {
            _durables?.Dispose();
            store.Dispose();
            throw new BackendException(
                $"the file backend cannot open the durables and dead_letters tables of {DatabaseFile} ({e.Message})",
                e);
        }

        _store = store;
        _listener = listener;
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "file-backend-writer" };
        _writer.Start();
        _log.Loaded(topics.Count, loaded, DatabaseFile, clock.ElapsedMilliseconds, _options.Fsync);
        return Task.FromResult(new BackendLoad(topics.Count, loaded));
    }

    private long Load(
        SqliteEventStore store,
        List<StoredTopic> topics,
        IEventBackendListener listener,
        CancellationToken cancellationToken)
    {
        foreach (var topic in topics)
        {
            _topics[topic.Topic] = new TopicState(topic.Epoch, topic.Head);
        }

        // Topics are loaded in parallel parts, one reader connection each: reading rows and copying them into the
        // rings is CPU-bound, and the rings of different topics take different locks.
        var parts = topics.Count < MinTopicsPerLoadPart * 2
            ? 1
            : Math.Min(Environment.ProcessorCount, MaxLoadParts);
        long loaded = 0;
        try
        {
            Parallel.For(
                0,
                parts,
                new ParallelOptions { MaxDegreeOfParallelism = parts, CancellationToken = cancellationToken },
                part =>
                {
                    var slice = topics[(topics.Count * part / parts)..(topics.Count * (part + 1) / parts)];
                    Interlocked.Add(ref loaded, LoadPart(store, slice, listener, cancellationToken));
                });
        }
        catch (AggregateException e)
        {
            // The first part's failure, as its own type (a damaged database, a cancelled start).
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }

        return loaded;
    }

    /// <summary>Loads <paramref name="topics"/>' recent events into the rings, in chunks of
    /// <see cref="LoadChunk"/>.</summary>
    private long LoadPart(
        SqliteEventStore store,
        List<StoredTopic> topics,
        IEventBackendListener listener,
        CancellationToken cancellationToken)
    {
        long loaded = 0;
        store.LoadRecent(topics, _options.ReplaySize, LoadChunk, (topic, events) =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var state = _topics[topic.Topic];
            var last = events[^1].Sequence;
            if (last > state.Head)
            {
                // The events and the topics row are written in one transaction, so this cannot happen; should it, no
                // number is given twice.
                _log.EventAboveHead(topic.Topic, last, state.Head);
                state.Head = last;
                state.DurableHead = last;
            }

            listener.Apply(topic.Topic, topic.Epoch, events, allowGap: true);
            loaded += events.Length;
        });
        return loaded;
    }

    private static void EnsureWritableFolder(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = System.IO.Path.Combine(folder, ".write-probe-" + NewEpoch());
            System.IO.File.WriteAllBytes(probe, [1]);
            System.IO.File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new BackendException(
                $"the file backend's folder {folder} cannot be created or written ({e.Message}): set "
                    + $"{FileBackendOptions.PathKey} to a writable folder",
                e);
        }
    }

    /// <inheritdoc />
    public async ValueTask<AppendResult> AppendAsync(
        string topic,
        IReadOnlyList<EventData> events,
        DateTimeOffset publishedAt,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(events);
        var listener = _listener
            ?? throw new InvalidOperationException(
                "the file backend is not started: start its broker (GrpcEventBroker.StartAsync) first");
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var count = events.Count;
        if (count == 0)
        {
            throw new ArgumentException("an append holds at least one event", nameof(events));
        }

        await _room.WaitAsync(cancellationToken).ConfigureAwait(false);
        PendingAppend append;
        try
        {
            var state = GetState(topic);
            lock (state.Gate)
            {
                state.Epoch ??= listener.GetTopicPosition(topic)?.Epoch ?? NewEpoch();
                var first = state.Head + 1;
                // The block the store writes holds the bytes the rings copy: each event is serialized once.
                var block = EventBlock.Encode(events, first, publishedAt, out var stored);
                append = new PendingAppend(
                    topic,
                    state.Epoch,
                    first,
                    state.Generation,
                    block,
                    stored,
                    publishedAt.ToUnixTimeMilliseconds());
                lock (_queueGate)
                {
                    ObjectDisposedException.ThrowIf(_stopping, this);

                    state.Head += count;
                    _queue.Add(append);
                    if (_queue.Count == 1)
                    {
                        Monitor.Pulse(_queueGate);
                    }
                }
            }
        }
        catch
        {
            _room.Release();
            throw;
        }

        return await append.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private TopicState GetState(string topic)
    {
        lock (_topicsGate)
        {
            if (!_topics.TryGetValue(topic, out var state))
            {
                state = new TopicState(null, 0);
                _topics[topic] = state;
            }

            return state;
        }
    }

    private void WriterLoop()
    {
        var store = _store!;
        var listener = _listener!;
        var batch = new List<PendingAppend>();
        var writes = new Dictionary<string, TopicWrite>(StringComparer.Ordinal);
        var interval = _options.Fsync == FsyncMode.Interval
            ? TimeSpan.FromMilliseconds(_options.FsyncIntervalMs)
            : Timeout.InfiniteTimeSpan;
        var sinceSync = Stopwatch.StartNew();
        var unsynced = false;
        while (true)
        {
            lock (_queueGate)
            {
                while (_queue.Count == 0 && !_stopping)
                {
                    if (unsynced)
                    {
                        var left = interval - sinceSync.Elapsed;
                        if (left <= TimeSpan.Zero || !Monitor.Wait(_queueGate, left))
                        {
                            break;
                        }
                    }
                    else
                    {
                        Monitor.Wait(_queueGate);
                    }
                }

                if (_queue.Count == 0 && _stopping)
                {
                    return;
                }

                (_queue, batch) = (batch, _queue);
            }

            if (unsynced && sinceSync.Elapsed >= interval)
            {
                try
                {
                    store.Sync();
                }
                catch (SqliteException e)
                {
                    _log.SyncFailed(e, DatabaseFile);
                }

                unsynced = false;
                sinceSync.Restart();
            }

            if (batch.Count == 0)
            {
                continue;
            }

            WriteBatch(store, listener, batch, writes);
            if (interval != Timeout.InfiniteTimeSpan && !unsynced)
            {
                unsynced = true;
                sinceSync.Restart();
            }

            _room.Release(batch.Count);
            batch.Clear();
            writes.Clear();
        }
    }

    private void WriteBatch(
        SqliteEventStore store,
        IEventBackendListener listener,
        List<PendingAppend> batch,
        Dictionary<string, TopicWrite> writes)
    {
        // Appends numbered before a failed write of their topic carry numbers given back: they fail too.
        var live = new List<PendingAppend>(batch.Count);
        foreach (var append in batch)
        {
            var state = StateOf(append.Topic);
            if (append.Generation != Volatile.Read(ref state.Generation))
            {
                append.Done.TrySetException(new BackendException($"the file backend's write to {DatabaseFile} failed "
                    + "before this append was stored; nothing of it was acknowledged, retry it"));
                continue;
            }

            live.Add(append);
            var last = append.LastSequence;
            if (writes.TryGetValue(append.Topic, out var write))
            {
                write.Head = last;
            }
            else
            {
                writes[append.Topic] = new TopicWrite(append.Topic, append.Epoch, last, 0);
            }

            state.AppendsSinceTrim++;
        }

        if (live.Count == 0)
        {
            return;
        }

        foreach (var write in writes.Values)
        {
            var state = StateOf(write.Topic);
            if (state.AppendsSinceTrim >= TrimEvery && write.Head > _options.ReplaySize)
            {
                write.TrimBelowOrAt = write.Head - _options.ReplaySize;
            }
        }

        try
        {
            var started = Stopwatch.GetTimestamp();
            store.Write(live, writes.Values);
            _writeTicks += Stopwatch.GetTimestamp() - started;
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException or BackendException)
        {
            Interlocked.Increment(ref _writeFailures);
            _log.WriteFailed(e, DatabaseFile, live.Count, writes.Count);
            foreach (var write in writes.Values)
            {
                var state = StateOf(write.Topic);
                lock (state.Gate)
                {
                    state.Head = state.DurableHead;
                    Interlocked.Increment(ref state.Generation);
                }
            }

            var failure = new BackendException(
                $"the file backend's write to {DatabaseFile} failed ({e.Message}); nothing of this append "
                    + "was stored, retry it",
                e);
            foreach (var append in live)
            {
                append.Done.TrySetException(failure);
            }

            return;
        }

        Interlocked.Increment(ref _commits);
        foreach (var write in writes.Values)
        {
            var state = StateOf(write.Topic);
            lock (state.Gate)
            {
                state.DurableHead = write.Head;
            }

            if (write.TrimBelowOrAt > 0)
            {
                state.AppendsSinceTrim = 0;
            }
        }

        foreach (var append in live)
        {
            var outcome = listener.Apply(append.Topic, append.Epoch, append.Events, allowGap: false);
            if (outcome == ApplyOutcome.Gap)
            {
                _log.RingGap(append.Topic, append.FirstSequence);
                listener.Apply(append.Topic, append.Epoch, append.Events, allowGap: true);
            }

            append.Done.TrySetResult(new AppendResult(append.Epoch, append.FirstSequence));
        }
    }

    private TopicState StateOf(string topic)
    {
        lock (_topicsGate)
        {
            return _topics[topic];
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(
        string topic,
        long first,
        long last,
        CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<BackendEvent>>(Guard(() => Store.Read(topic, first, last)));

    /// <inheritdoc />
    public ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
        IReadOnlyCollection<string> topics,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(topics);
        var described = new Dictionary<string, BackendTopic>(StringComparer.Ordinal);
        Guard(() =>
        {
            foreach (var name in topics)
            {
                if (Store.Describe(name) is { } topic)
                {
                    described[name] = topic;
                }
            }

            return described;
        });
        return ValueTask.FromResult<IReadOnlyDictionary<string, BackendTopic>>(described);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<string>>(Guard(() => Store.ListTopics()));

    /// <inheritdoc />
    public bool IsShared => false;

    /// <inheritdoc />
    public ValueTask SaveAsync(DurableSnapshot snapshot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        Guard(() =>
        {
            Durables.Save(snapshot);
            return true;
        });
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, string name, CancellationToken cancellationToken)
    {
        Guard(() =>
        {
            Durables.Delete(key, name);
            return true;
        });
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<DurableSnapshot?> LoadAsync(string key, string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Guard(() => Durables.Load(key, name)));

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DurableSnapshot>> LoadAllAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult<IReadOnlyList<DurableSnapshot>>(Guard(() => Durables.LoadAll()));

    private SqliteDurableStore Durables =>
        _durables
            ?? throw new InvalidOperationException(
                "the file backend is not started: start its broker (GrpcEventBroker.StartAsync) first");

    private T Guard<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (SqliteException e)
        {
            throw new BackendException($"the file backend cannot read its database {DatabaseFile} ({e.Message})", e);
        }
    }

    /// <summary>Writes what is queued, stops the writer and closes the database (a clean close checkpoints
    /// it).</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return ValueTask.CompletedTask;
        }

        lock (_queueGate)
        {
            _stopping = true;
            Monitor.PulseAll(_queueGate);
        }

        _writer?.Join();
        _durables?.Dispose();
        _deadLetters?.Dispose();
        if (_store is not null)
        {
            _store.Dispose();
            _log.Closed(DatabaseFile);
        }

        _room.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>A new random epoch: 16 hex characters.</summary>
    internal static string NewEpoch() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private sealed class TopicState(string? epoch, long head)
    {
        public Lock Gate { get; } = new();

        /// <summary>The topic's epoch; null until its first append (then the ring's, or a new one).</summary>
        public string? Epoch { get; set; } = epoch;

        /// <summary>The last number given (under <see cref="Gate"/>).</summary>
        public long Head { get; set; } = head;

        /// <summary>The last number committed (under <see cref="Gate"/>).</summary>
        public long DurableHead { get; set; } = head;

        /// <summary>Bumped by a failed write: appends numbered before it fail.</summary>
        public long Generation;

        /// <summary>Appends since the last trim (writer thread only).</summary>
        public int AppendsSinceTrim { get; set; }
    }
}
