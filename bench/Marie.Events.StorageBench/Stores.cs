using System.Buffers.Binary;
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

/// <summary>One WITHOUT ROWID table keyed by (topic, seq); WAL journal with synchronous=FULL, so each commit fsyncs the WAL.</summary>
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
             "CREATE TABLE IF NOT EXISTS events(topic INTEGER NOT NULL, seq INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY(topic, seq)) WITHOUT ROWID;");
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

/// <summary>Default column family keyed by big-endian (topic, seq); sync=true write batches, DeleteRange for retention.</summary>
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

    public void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes) =>
        Write(batch, deletes, _sync);

    public void WriteBulk(IReadOnlyList<StoredEvent> batch) => Write(batch, [], _nosync);

    private void Write(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes, WriteOptions wo)
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

/// <summary>One LMDB database keyed by big-endian (topic, seq); default environment flags, so each commit is durable (msync/fsync).</summary>
internal sealed class LmdbStore : IEventStore
{
    private readonly LightningEnvironment _env;
    private readonly LightningDatabase _db;
    private readonly Dictionary<int, long> _deletedBelow = [];

    public LmdbStore(string dir)
    {
        _env = new LightningEnvironment(dir, new EnvironmentConfiguration { MapSize = 4L << 30, MaxDatabases = 1 });
        _env.Open();
        using var tx = _env.BeginTransaction();
        _db = tx.OpenDatabase("events", new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
        tx.Commit();
    }

    public void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes)
    {
        using var tx = _env.BeginTransaction();
        foreach (var e in batch)
        {
            tx.Put(_db, Keys.Make(e.Topic, e.Seq), e.Payload);
        }
        foreach (var (topic, below) in deletes)
        {
            // LMDB has no range delete: delete each key from the previous bound up to this one.
            var from = _deletedBelow.GetValueOrDefault(topic, 1);
            for (var s = from; s < below; s++)
            {
                tx.Delete(_db, Keys.Make(topic, s));
            }
            _deletedBelow[topic] = below;
        }
        tx.Commit();
    }

    public void WriteBulk(IReadOnlyList<StoredEvent> batch) => WriteDurable(batch, []);

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
        return result;
    }

    public void Dispose()
    {
        _db.Dispose();
        _env.Dispose();
    }
}

/// <summary>
/// One FasterLog for all topics; each record is [topic int32][seq int64][payload]. Commit(spinWait) waits until the
/// flushed tail and the commit record are on the device. There is no per-key delete: retention can only truncate the
/// log's head (TruncateUntil), so the deletes passed in are ignored and the log keeps every event.
/// </summary>
internal sealed class FasterLogStore : IEventStore
{
    private readonly IDevice _device;
    private readonly FasterLog _log;

    public FasterLogStore(string dir)
    {
        _device = Devices.CreateLogDevice(Path.Combine(dir, "hlog.log"));
        _log = new FasterLog(new FasterLogSettings { LogDevice = _device, LogCommitDir = dir, MemorySizeBits = 24, PageSizeBits = 22 });
    }

    public void WriteDurable(IReadOnlyList<StoredEvent> batch, IReadOnlyList<(int Topic, long DeleteBelow)> deletes)
    {
        Append(batch);
        _log.Commit(spinWait: true);
    }

    public void WriteBulk(IReadOnlyList<StoredEvent> batch) => WriteDurable(batch, []);

    private void Append(IReadOnlyList<StoredEvent> batch)
    {
        var record = new byte[12 + BenchOptions.PayloadSize];
        foreach (var e in batch)
        {
            if (record.Length != 12 + e.Payload.Length)
            {
                record = new byte[12 + e.Payload.Length];
            }
            BinaryPrimitives.WriteInt32LittleEndian(record, e.Topic);
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(4), e.Seq);
            e.Payload.CopyTo(record, 12);
            _log.Enqueue(record);
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
            list.Add(entry.AsSpan(12, length - 12).ToArray());
        }
        return result;
    }

    public void Dispose()
    {
        _log.Dispose();
        _device.Dispose();
    }
}
