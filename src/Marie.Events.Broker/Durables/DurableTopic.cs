using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Durables;

/// <summary>An unacknowledged event of a durable subscription that no member holds: handed over by a member whose
/// stream ended or that went silent, loaded at start, or a dead letter replayed to the durable. A member with room
/// takes it (<see cref="DurableSubscription.TryTakeWaiting"/>).</summary>
/// <param name="Event">The event, or null when only its number is known (loaded at start: read from the ring).</param>
/// <param name="Replayed">The dead letter it replays (a new round of attempts), or null.</param>
internal sealed record WaitingEvent(StoredEvent? Event, DeadLetter? Replayed);

/// <summary>A durable subscription's position on one topic. Guarded by the durable's lock.</summary>
internal sealed class DurableTopic(string topic, string epoch, long delivered)
{
    public string Topic { get; } = topic;

    /// <summary>The topic's epoch the numbers belong to.</summary>
    public string Epoch { get; set; } = epoch;

    /// <summary>The highest sequence handed to a member (or considered at the start): members claim after it.
    /// </summary>
    public long Delivered { get; set; } = delivered;

    /// <summary>Unacknowledged sequences up to <see cref="Delivered"/>, with the deliveries each had: held by a
    /// member or waiting in <see cref="Waiting"/>. A hash table, not a sorted one: every delivery adds an entry
    /// and every settle removes one, which a hash table does without allocating (a sorted tree allocates a node per
    /// delivery); only <see cref="Acked"/> and the saved form need the order, and they are rare.</summary>
    public Dictionary<long, int> Pending { get; } = [];

    /// <summary>The pending sequences no member holds, oldest first.</summary>
    public SortedDictionary<long, WaitingEvent> Waiting { get; } = [];

    /// <summary>Every sequence up to this one is acknowledged (or filtered out).</summary>
    public long Acked
    {
        get
        {
            if (Pending.Count == 0)
            {
                return Delivered;
            }

            var lowest = long.MaxValue;
            foreach (var sequence in Pending.Keys)
            {
                lowest = Math.Min(lowest, sequence);
            }

            return Math.Min(Delivered, lowest - 1);
        }
    }
}
