using Marie.Events.Broker.Storage;
using Microsoft.Data.Sqlite;

namespace Marie.Events.Backends.File;

/// <summary>
/// Durable subscriptions' state in the file backend's database: table <c>durables</c>, one row per (key, name)
/// holding the snapshot's bytes (<see cref="DurableSnapshot.ToBytes"/>). A connection of its own, so a save never
/// waits in the event writer's queue; SQLite serialises it with the writer's transactions (WAL, a busy timeout).
/// </summary>
internal sealed class SqliteDurableStore : IDisposable
{
    private readonly Lock _gate = new();
    private readonly SqliteConnection _connection;

    private SqliteDurableStore(SqliteConnection connection) => _connection = connection;

    /// <summary>Opens the table in <paramref name="file"/> (the event store opened it already, in WAL mode).
    /// </summary>
    public static SqliteDurableStore Open(string file) =>
        new(SqliteSideConnection.Open(
            file,
            "CREATE TABLE IF NOT EXISTS durables(key TEXT NOT NULL, name TEXT NOT NULL, "
                + "state BLOB NOT NULL, PRIMARY KEY(key, name)) WITHOUT ROWID"));

    public void Save(DurableSnapshot snapshot)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO durables(key, name, state) VALUES ($k, $n, $s) "
                + "ON CONFLICT(key, name) DO UPDATE SET state = excluded.state";
            command.Parameters.AddWithValue("$k", snapshot.Key);
            command.Parameters.AddWithValue("$n", snapshot.Name);
            command.Parameters.AddWithValue("$s", snapshot.ToBytes());
            command.ExecuteNonQuery();
        }
    }

    public void Delete(string key, string name)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM durables WHERE key = $k AND name = $n";
            command.Parameters.AddWithValue("$k", key);
            command.Parameters.AddWithValue("$n", name);
            command.ExecuteNonQuery();
        }
    }

    public DurableSnapshot? Load(string key, string name)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT state FROM durables WHERE key = $k AND name = $n";
            command.Parameters.AddWithValue("$k", key);
            command.Parameters.AddWithValue("$n", name);
            return command.ExecuteScalar() is byte[] bytes ? DurableSnapshot.FromBytes(bytes) : null;
        }
    }

    public List<DurableSnapshot> LoadAll()
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT state FROM durables ORDER BY key, name";
            using var rows = command.ExecuteReader();
            var all = new List<DurableSnapshot>();
            while (rows.Read())
            {
                all.Add(DurableSnapshot.FromBytes((byte[])rows.GetValue(0)));
            }

            return all;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _connection.Dispose();
        }
    }
}
