using Microsoft.Data.Sqlite;

namespace Marie.Events.Backends.File;

/// <summary>
/// A connection of its own to the file backend's database, for state kept beside the events (durable subscriptions,
/// dead letters): a write there never waits in the event writer's queue, and SQLite serialises it with the writer's
/// transactions (WAL, which the event store set, and a busy timeout).
/// </summary>
internal static class SqliteSideConnection
{
    /// <summary>Milliseconds a write waits for the event writer's transaction to end (SQLite has one writer at a
    /// time; the writer's transactions last milliseconds, 5 s covers a slow disk's fsync).</summary>
    private const int BusyTimeoutMs = 5000;

    /// <summary>Opens <paramref name="file"/> (the event store opened it already) and runs
    /// <paramref name="createTable"/>.</summary>
    public static SqliteConnection Open(string file, string createTable)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = file,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        try
        {
            connection.Open();
            Execute(connection, $"PRAGMA busy_timeout={BusyTimeoutMs}");
            Execute(connection, createTable);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Runs one statement that returns no rows.</summary>
    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
