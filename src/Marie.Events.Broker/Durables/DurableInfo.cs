namespace Marie.Events.Broker.Durables;

/// <summary>A durable subscription as the admin API lists it.</summary>
/// <param name="Key">The API key name it belongs to.</param>
/// <param name="Name">Its durable name.</param>
/// <param name="Group">Its consumer group ("" when none).</param>
/// <param name="Members">Streams holding it now.</param>
/// <param name="LastActiveAt">When the last stream left it (when it was made or loaded, if no stream held it since);
/// meaningless while <paramref name="Members"/> is not 0.</param>
/// <param name="Topics">Its position on each topic.</param>
/// <param name="ExpiresAt">When the inactive TTL (<c>durable.inactive_ttl_s</c>) removes it unless a stream
/// subscribes with its name: <paramref name="LastActiveAt"/> + the TTL; null while a stream holds it.</param>
public sealed record DurableInfo(
    string Key,
    string Name,
    string Group,
    int Members,
    DateTimeOffset LastActiveAt,
    IReadOnlyList<Storage.DurableTopicSnapshot> Topics,
    DateTimeOffset? ExpiresAt);

/// <summary>What deleting a durable subscription did.</summary>
public enum DurableDeleteOutcome
{
    /// <summary>Deleted, with its state in the backend.</summary>
    Deleted,

    /// <summary>The key has no durable of that name.</summary>
    NotFound,

    /// <summary>Streams hold it: end them (or unsubscribe) first.</summary>
    InUse,
}
