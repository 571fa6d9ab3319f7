using System.Buffers.Binary;
using System.Reflection;
using System.Runtime.InteropServices;
using FASTER.core;
using LightningDB;
using Microsoft.Data.Sqlite;
using RocksDbSharp;

namespace Marie.Events.StorageBench;

internal static class StoreFactories
{
    public static readonly StoreFactory[] All =
    [
        new("sqlite", "Microsoft.Data.Sqlite 10.0.5", d => new SqliteStore(d)),
        new("rocksdb", "RocksDB 11.12.0.7641", d => new RocksStore(d)),
        new("lmdb", "LightningDB 0.23.1", d => new LmdbStore(d)),
        new("fasterlog", "Microsoft.FASTER.Core 2.6.5", d => new FasterLogStore(d)),
    ];
}

/// <summary>
/// One WITHOUT ROWID table keyed by (topic, seq); WAL journal with synchronous=FULL, so each commit fsyncs the WAL.
/// </summary>
internal sealed class SqliteStore : IEventStore
{
    private readonly SqliteConnection _conn;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _delete;

    public SqliteStore(string dir)
    {
        _conn = new SqliteConnection($"Data Source={Path.Combine(dir, "events.db")};Pooling=False");
        _conn.Open();
        Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" +
             "CREATE TABLE IF NOT EXISTS events(topic INTEGER NOT NULL, seq INTEGER NOT NULL, " +
             "payload BLOB NOT NULL, PRIMARY KEY(topic, seq)) WITHOUT ROWID;");
        _insert = _conn.CreateCommand();
        _insert.CommandText = "INSERT INTO events(topic, seq, payload) VALUES ($t, $s, $p)";
        _insert.Parameters.Add("$t", SqliteType.Integer);
        _insert.Parameters.Add("$s", SqliteType.Integer);
        _insert.Parameters.Add("$p", SqliteType.Blob);
        _delete = _conn.CreateCommand();
        _delete.CommandText = "DELETE FROM events WHERE topic = $t AND seq < $s";
        _delete.Parameters.Add("$t", SqliteType.Integer);
        _delete.Parameters.Add("$s", SqliteType.Integer);
    }

    public string CheckpointKind => "PRAGMA wal_checkpoint(TRUNCATE)";

    private void Exec(string sql)
    {
        using var c = _conn.CreateCommand();
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    public void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes)
    {
        using var tx = _conn.BeginTransaction();
        _insert.Transaction = tx;
        _delete.Transaction = tx;
        foreach (var e in batch)
        {
            _insert.Parameters[0].Value = e.Topic;
            _insert.Parameters[1].Value = e.Seq;
            _insert.Parameters[2].Value = e.Payload;
            _insert.ExecuteNonQuery();
        }
        foreach (var (topic, below) in deletes)
        {
            _delete.Parameters[0].Value = topic;
            _delete.Parameters[1].Value = below;
            _delete.ExecuteNonQuery();
        }
        tx.Commit();
    }

    public void WriteBulk(IReadOnlyList<StoredEvent> batch) => WriteDurable(batch, []);

    public void Checkpoint() => Exec("PRAGMA wal_checkpoint(TRUNCATE);");

    public Dictionary<int, List<byte[]>> LoadAll()
    {
        var result = new Dictionary<int, List<byte[]>>();
        using var c = _conn.CreateCommand();
        c.CommandText = "SELECT topic, payload FROM events ORDER BY topic, seq";
        using var r = c.ExecuteReader();
        List<byte[]>? list = null;
        var current = -1;
        while (r.Read())
        {
            var topic = r.GetInt32(0);
            if (list is null || topic != current)
            {
                current = topic;
                list = [];
                result[topic] = list;
            }
            list.Add((byte[])r.GetValue(1));
        }
        return result;
    }

    public void Dispose()
    {
        _insert.Dispose();
        _delete.Dispose();
        _conn.Dispose();
    }
}

/// <summary>
/// Default column family keyed by big-endian (topic, seq); sync=true write batches, DeleteRange for retention.
/// </summary>
internal sealed class RocksStore : IEventStore
{
    private readonly RocksDb _db;
    private readonly WriteOptions _sync = new WriteOptions().SetSync(true);
    private readonly WriteOptions _nosync = new WriteOptions().SetSync(false);

    public RocksStore(string dir)
    {
        var options = new DbOptions().SetCreateIfMissing(true);
        _db = RocksDb.Open(options, dir);
    }

    public string CheckpointKind => "Flush(wait) + CompactRange(all)";

    public void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes) =>
        Write(batch, deletes, _sync);

    public void WriteBulk(IReadOnlyList<StoredEvent> batch) => Write(batch, [], _nosync);

    private void Write(
        IReadOnlyList<StoredEvent> batch,
        IReadOnlyList<(int Topic, long DeleteBelow)> deletes,
        WriteOptions wo)
    {
        using var wb = new WriteBatch();
        foreach (var e in batch)
        {
            wb.Put(Keys.Make(e.Topic, e.Seq), e.Payload);
        }
        foreach (var (topic, below) in deletes)
        {
            var start = Keys.Make(topic, 0);
            var end = Keys.Make(topic, below);
            wb.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length);
        }
        _db.Write(wb, wo);
    }

    public void Checkpoint()
    {
        var fo = new FlushOptions().SetWaitForFlush(true);
        _db.Flush(fo);
        _db.CompactRange(null as byte[], null);
    }

    public Dictionary<int, List<byte[]>> LoadAll()
    {
        var result = new Dictionary<int, List<byte[]>>();
        using var it = _db.NewIterator();
        List<byte[]>? list = null;
        var current = -1;
        for (it.SeekToFirst(); it.Valid(); it.Next())
        {
            var topic = Keys.Topic(it.Key());
            if (list is null || topic != current)
            {
                current = topic;
                list = [];
                result[topic] = list;
            }
            list.Add(it.Value());
        }
        return result;
    }

    public void Dispose() => _db.Dispose();
}

/// <summary>
/// Loads LightningDB's native library. The package's linux-x64 liblmdb.so is linked against glibc 2.38
/// (<c>__isoc23_strtol@GLIBC_2.38</c>) and does not load on Debian 12's glibc 2.36, so when the bundled library fails
/// this falls back to the system's liblmdb.so.0 (Debian package liblmdb0, LMDB 0.9.24).
/// </summary>
internal static class LmdbNative
{
    /// <summary>The library name LightningDB's DllImports use.</summary>
    private const string LibraryName = "lmdb";

    /// <summary>Debian's LMDB runtime library (package liblmdb0).</summary>
    private const string SystemLibrary = "liblmdb.so.0";

    private static readonly Lazy<string> Loaded = new(Load);

    /// <summary>
    /// Which library was loaded ("bundled" or the system one); throws, before any LightningDB object exists, if none
    /// loads.
    /// </summary>
    public static string EnsureLoaded() => Loaded.Value;

    private static IntPtr _handle;

    private static string Load()
    {
        var assembly = typeof(LightningEnvironment).Assembly;
        string which;
        if (NativeLibrary.TryLoad(
                LibraryName,
                assembly,
                DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories,
                out _handle))
        {
            which = "bundled liblmdb.so";
        }
        else
        {
            string bundledError;
            try
            {
                NativeLibrary.Load(
                    LibraryName,
                    assembly,
                    DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories);
                bundledError = "loaded on retry";
            }
            catch (DllNotFoundException e)
            {
                bundledError = e.Message
                    .Split('\n')
                    .FirstOrDefault(l => l.Contains("GLIBC", StringComparison.Ordinal))
                    ?? e.Message;
            }
            if (!NativeLibrary.TryLoad(SystemLibrary, out _handle))
            {
                throw new DllNotFoundException(
                    $"LMDB native library: bundled one failed ({bundledError.Trim()}) and " +
                    $"{SystemLibrary} is not installed (apt-get install liblmdb0)");
            }
            which = $"{SystemLibrary} (bundled one failed: {bundledError.Trim()})";
        }
        NativeLibrary.SetDllImportResolver(assembly, Resolve);
        Console.WriteLine("  lmdb native: " + which);
        return which;
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name == LibraryName ? _handle : IntPtr.Zero;
}

/// <summary>
/// One LMDB database keyed by big-endian (topic, seq); default environment flags, so each commit is durable
/// (fdatasync of the data file, then of the meta page). Write transactions only ever run on the caller's thread.
/// </summary>
internal sealed class LmdbStore : IEventStore
{
    /// <summary>
    /// Map size 8 GiB: the 10,000 x 200 start-up set is about 0.6 GB of pages; the map is only address space, the
    /// file grows as used.
    /// </summary>
    private const long MapSize = 8L << 30;

    private readonly LightningEnvironment _env;
    private readonly LightningDatabase _db;
    private readonly Dictionary<int, long> _deletedBelow = [];

    public LmdbStore(string dir)
    {
        // Load (or fail to load) the native library before a LightningEnvironment exists: one whose constructor fails
        // on a missing library is still finalized, and its finalizer's native call then kills the process.
        LmdbNative.EnsureLoaded();
        // One named database ("events"), so MaxDatabases is 1.
        _env = new LightningEnvironment(dir, new EnvironmentConfiguration { MapSize = MapSize, MaxDatabases = 1 });
        try
        {
            _env.Open();
            using var tx = _env.BeginTransaction();
            _db = tx.OpenDatabase("events", new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
            tx.Commit().ThrowOnError();
        }
        catch
        {
            _env.Dispose();
            throw;
        }
    }

    public string CheckpointKind => "none (copy-on-write B-tree, no log)";

    public void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes)
    {
        using var tx = _env.BeginTransaction();
        foreach (var e in batch)
        {
            tx.Put(_db, Keys.Make(e.Topic, e.Seq), e.Payload).ThrowOnError();
        }
        foreach (var (topic, below) in deletes)
        {
            // LMDB has no range delete: delete each key from the previous bound up to this one.
            var from = _deletedBelow.GetValueOrDefault(topic, 1);
            for (var s = from; s < below; s++)
            {
                var rc = tx.Delete(_db, Keys.Make(topic, s));
                if (rc != MDBResultCode.Success && rc != MDBResultCode.NotFound)
                {
                    rc.ThrowOnError();
                }
            }
            _deletedBelow[topic] = below;
        }
        tx.Commit().ThrowOnError();
    }

    public void WriteBulk(IReadOnlyList<StoredEvent> batch) => WriteDurable(batch, []);

    public void Checkpoint()
    {
    }

    public Dictionary<int, List<byte[]>> LoadAll()
    {
        var result = new Dictionary<int, List<byte[]>>();
        using var tx = _env.BeginTransaction(TransactionBeginFlags.ReadOnly);
        using var cursor = tx.CreateCursor(_db);
        List<byte[]>? list = null;
        var current = -1;
        var (rc, key, value) = cursor.First();
        while (rc == MDBResultCode.Success)
        {
            var topic = Keys.Topic(key.AsSpan());
            if (list is null || topic != current)
            {
                current = topic;
                list = [];
                result[topic] = list;
            }
            list.Add(value.CopyToNewArray());
            (rc, key, value) = cursor.Next();
        }
        if (rc != MDBResultCode.NotFound)
        {
            rc.ThrowOnError();
        }
        return result;
    }

    public void Dispose()
    {
        // The database handle before the environment that owns it.
        try
        {
            _db.Dispose();
        }
        finally
        {
            _env.Dispose();
            GC.KeepAlive(this);
        }
    }
}

/// <summary>
/// One FasterLog for all topics; each record is [topic int32][seq int64][payload]. A durable write enqueues the batch
/// and waits for CommitAsync: the device (ManagedLocalStorageDevice on Linux) opens its segments with
/// FileOptions.WriteThrough (O_DSYNC), and the commit record is written the same way. There is no per-key delete:
/// retention can only truncate the shared log's head (TruncateUntil) to the oldest record some topic still keeps, and
/// whole segments below the head are deleted at the next commit.
/// </summary>
internal sealed class FasterLogStore : IEventStore
{
    /// <summary>Record header: int32 topic, int64 seq.</summary>
    private const int Header = sizeof(int) + sizeof(long);

    /// <summary>4 MiB pages.</summary>
    private const int PageSizeBits = 22;

    /// <summary>32 MiB of in-memory log (8 pages): one 20,000-event prefill batch (5.4 MB) fits with room.</summary>
    private const int MemorySizeBits = 25;

    /// <summary>
    /// 4 MiB segment files (one page each), so head truncation frees disk in 4 MiB steps rather than the default
    /// 1 GiB.
    /// </summary>
    private const int SegmentSizeBits = 22;

    private readonly IDevice _device;
    private readonly FasterLog _log;
    private readonly Dictionary<int, Queue<(long Seq, long Address)>> _addresses = [];

    public FasterLogStore(string dir)
    {
        _device = Devices.CreateLogDevice(Path.Combine(dir, "hlog.log"));
        try
        {
            // The constructor recovers from the latest commit in LogCommitDir when there is one.
            _log = new FasterLog(new FasterLogSettings
            {
                LogDevice = _device,
                LogCommitDir = dir,
                PageSizeBits = PageSizeBits,
                MemorySizeBits = MemorySizeBits,
                SegmentSizeBits = SegmentSizeBits,
                // The commit record goes into the log itself instead of a new commit file per commit; recovery then
                // scans forward from the last checkpointed commit file for later commit records.
                FastCommitMode = true,
            });
        }
        catch
        {
            _device.Dispose();
            throw;
        }
    }

    public string CheckpointKind => "commit after head truncation (segments below the head deleted)";

    public void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes)
    {
        Append(batch, track: true);
        if (deletes.Count > 0)
        {
            foreach (var (topic, below) in deletes)
            {
                var q = _addresses[topic];
                while (q.Count > 0 && q.Peek().Seq < below)
                {
                    q.Dequeue();
                }
            }
            // Every topic's oldest kept record bounds the head; topics not seen yet keep nothing.
            var head = _addresses.Values
                .Where(q => q.Count > 0)
                .Select(q => q.Peek().Address)
                .DefaultIfEmpty(_log.TailAddress)
                .Min();
            if (head > _log.BeginAddress)
            {
                _log.TruncateUntil(head);
            }
        }
        _log.CommitAsync().AsTask().GetAwaiter().GetResult();
    }

    public void WriteBulk(IReadOnlyList<StoredEvent> batch)
    {
        Append(batch, track: false);
        _log.CommitAsync().AsTask().GetAwaiter().GetResult();
    }

    public void Checkpoint() => _log.CommitAsync().AsTask().GetAwaiter().GetResult();

    private void Append(IReadOnlyList<StoredEvent> batch, bool track)
    {
        var record = new byte[Header + StorageBenchOptions.PayloadSize];
        foreach (var e in batch)
        {
            if (record.Length != Header + e.Payload.Length)
            {
                record = new byte[Header + e.Payload.Length];
            }
            BinaryPrimitives.WriteInt32LittleEndian(record, e.Topic);
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(sizeof(int)), e.Seq);
            e.Payload.CopyTo(record, Header);
            var address = _log.Enqueue(record);
            if (track)
            {
                if (!_addresses.TryGetValue(e.Topic, out var q))
                {
                    q = new Queue<(long, long)>();
                    _addresses[e.Topic] = q;
                }
                q.Enqueue((e.Seq, address));
            }
        }
    }

    public Dictionary<int, List<byte[]>> LoadAll()
    {
        var result = new Dictionary<int, List<byte[]>>();
        using var iter = _log.Scan(_log.BeginAddress, _log.TailAddress);
        while (iter.GetNext(out var entry, out var length, out _))
        {
            var topic = BinaryPrimitives.ReadInt32LittleEndian(entry);
            if (!result.TryGetValue(topic, out var list))
            {
                list = [];
                result[topic] = list;
            }
            list.Add(entry.AsSpan(Header, length - Header).ToArray());
        }
        return result;
    }

    public void Dispose()
    {
        // The log before the device it writes to.
        try
        {
            _log.Dispose();
        }
        finally
        {
            _device.Dispose();
        }
    }
}
