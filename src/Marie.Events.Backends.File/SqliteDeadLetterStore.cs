using Marie.Events.Broker.DeadLetters;
using Microsoft.Data.Sqlite;

namespace Marie.Events.Backends.File;

/// <summary>
/// Dead letters in the file backend's database: table <c>dead_letters</c>, one row per (key, id) holding the dead
/// letter's bytes (<see cref="DeadLetter.ToBytes"/>) and when it was dead-lettered (loaded in that order). A
/// connection of its own, like <see cref="SqliteDurableStore"/>: SQLite serialises it with the event writer's
/// transactions (WAL, a busy timeout).
/// </summary>
internal sealed class SqliteDeadLetterStore : IDisposable
{
    private readonly Lock _gate = new();
    private readonly SqliteConnection _connection;

    private SqliteDeadLetterStore(SqliteConnection connection) => _connection = connection;

    /// <summary>Opens the table in <paramref name="file"/> (the event store opened it already, in WAL mode).
    /// </summary>
    public static SqliteDeadLetterStore Open(string file) =>
        new(SqliteSideConnection.Open(
            file,
            "CREATE TABLE IF NOT EXISTS dead_letters(key TEXT NOT NULL, id TEXT NOT NULL, "
                + "letter BLOB NOT NULL, dead_lettered_ms INTEGER NOT NULL, PRIMARY KEY(key, id))"));

    public void Save(DeadLetter letter)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO dead_letters(key, id, letter, dead_lettered_ms) VALUES ($k, $i, $l, $t) "
                + "ON CONFLICT(key, id) DO UPDATE SET letter = excluded.letter, "
                + "dead_lettered_ms = excluded.dead_lettered_ms";
            command.Parameters.AddWithValue("$k", letter.Key);
            command.Parameters.AddWithValue("$i", letter.Id);
            command.Parameters.AddWithValue("$l", letter.ToBytes());
            command.Parameters.AddWithValue("$t", letter.Last.DeadLetteredAt.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }
    }

    public void Delete(string key, string id)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM dead_letters WHERE key = $k AND id = $i";
            command.Parameters.AddWithValue("$k", key);
            command.Parameters.AddWithValue("$i", id);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Every row, oldest first; a row that is not a readable dead letter is left out and counted in
    /// <paramref name="unreadable"/>.</summary>
    public List<DeadLetter> LoadAll(out int unreadable)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT letter FROM dead_letters ORDER BY dead_lettered_ms, rowid";
            using var rows = command.ExecuteReader();
            var all = new List<DeadLetter>();
            unreadable = 0;
            while (rows.Read())
            {
                try
                {
                    all.Add(DeadLetter.FromBytes((byte[])rows.GetValue(0)));
                }
                catch (FormatException)
                {
                    unreadable++;
                }
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
