using System.Collections.Frozen;
using Marie.Events.Broker.Connections;

namespace Marie.Events.Broker.Access;

/// <summary>
/// Which topics a connection (or a publisher) may see: every topic, or a fixed set of names. The broker enforces it
/// on everything it sends: a subscription may only name visible topics, <c>"*"</c> expands to exactly the visible
/// topics (present and future), heartbeats, confirms, replays and stats list only visible topics. Immutable: a change
/// of rights is a new instance given to <see cref="BrokerConnection.UpdateAccess"/>.
/// </summary>
public sealed class ConnectionAccess : IEquatable<ConnectionAccess>
{
    /// <summary>The wildcard that, in a topic list, means every topic.</summary>
    public const string AllTopics = "*";

    private readonly FrozenSet<string>? _topics;

    private ConnectionAccess(FrozenSet<string>? topics)
    {
        _topics = topics;
    }

    /// <summary>Sees every topic (unit tests, embedding, admin keys).</summary>
    public static ConnectionAccess All { get; } = new(null);

    /// <summary>Sees exactly <paramref name="topics"/>; a list holding <c>"*"</c> is <see cref="All"/>.</summary>
    public static ConnectionAccess ForTopics(IEnumerable<string> topics)
    {
        ArgumentNullException.ThrowIfNull(topics);
        var set = topics.ToFrozenSet(StringComparer.Ordinal);
        return set.Contains(AllTopics) ? All : new ConnectionAccess(set);
    }

    /// <summary>True when every topic is visible.</summary>
    public bool SeesAll => _topics is null;

    /// <summary>The visible topics, or null for <see cref="All"/>.</summary>
    public IReadOnlyCollection<string>? Topics => _topics;

    /// <summary>Whether <paramref name="topic"/> is visible.</summary>
    public bool CanSee(string topic) => _topics is null || _topics.Contains(topic);

    public bool Equals(ConnectionAccess? other)
    {
        if (other is null)
        {
            return false;
        }

        if (ReferenceEquals(this, other) || (_topics is null && other._topics is null))
        {
            return true;
        }

        return _topics is not null && other._topics is not null && _topics.SetEquals(other._topics);
    }

    public override bool Equals(object? obj) => Equals(obj as ConnectionAccess);

    public override int GetHashCode() => _topics is null ? 0 : _topics.Count;

    public override string ToString() =>
        _topics is null ? AllTopics : "{" + string.Join(", ", _topics.Order(StringComparer.Ordinal)) + "}";
}
