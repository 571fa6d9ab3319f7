using Marie.Events.Protocol;

namespace Marie.Events.Broker.DeadLetters;

/// <summary>Why an event became a dead letter.</summary>
public enum DeadLetterReason
{
    /// <summary>It had its <c>max_redelivery_attempts</c> deliveries without an ack (code <c>max_attempts</c>).
    /// </summary>
    MaxAttempts,

    /// <summary>The client terminated it (code <c>terminated</c>).</summary>
    Terminated,
}

/// <summary>The reason codes as the protocol, the admin API and the CLI spell them.</summary>
public static class DeadLetterReasons
{
    /// <summary>The code of <see cref="DeadLetterReason.MaxAttempts"/>.</summary>
    public const string MaxAttempts = "max_attempts";

    /// <summary>The code of <see cref="DeadLetterReason.Terminated"/>.</summary>
    public const string Terminated = "terminated";

    /// <summary>The code of <paramref name="reason"/>.</summary>
    public static string Code(DeadLetterReason reason) =>
        reason == DeadLetterReason.Terminated ? Terminated : MaxAttempts;

    /// <summary>Reads a code; false for anything but <c>max_attempts</c> and <c>terminated</c>.</summary>
    public static bool TryParse(string code, out DeadLetterReason reason)
    {
        reason = code == Terminated ? DeadLetterReason.Terminated : DeadLetterReason.MaxAttempts;
        return code is MaxAttempts or Terminated;
    }
}

/// <summary>
/// The subscription that failed an event: a plain one is named by its <see cref="SubscriptionId"/> on the stream
/// <see cref="ConnectionId"/>; a durable one by <see cref="DurableName"/> (and <see cref="Group"/>), which outlive
/// any stream (its subscription id and stream are the member's that failed it).
/// </summary>
/// <param name="SubscriptionId">The client's subscription id.</param>
/// <param name="ConnectionId">The stream it was open on.</param>
/// <param name="DurableName">The durable name, or null (plain subscription).</param>
/// <param name="Group">The consumer group, or null.</param>
public sealed record DeadLetterSubscription(
    string SubscriptionId,
    string ConnectionId,
    string? DurableName = null,
    string? Group = null)
{
    /// <summary>The name the dead letter is listed under: the durable name, else the subscription id.</summary>
    public string ListedAs => DurableName ?? SubscriptionId;
}

/// <summary>One round of deliveries that ended in the dead-letter store.</summary>
/// <param name="Reason">Why it ended there.</param>
/// <param name="ClientReason">The client's reason (nack or terminate), at most 1 KiB; empty when none.</param>
/// <param name="Attempts">Deliveries of the round.</param>
/// <param name="FirstDeliveredAt">First delivery of the round.</param>
/// <param name="LastDeliveredAt">Last delivery of the round.</param>
/// <param name="DeadLetteredAt">When it was dead-lettered.</param>
public sealed record DeadLetterRound(
    DeadLetterReason Reason,
    string ClientReason,
    int Attempts,
    DateTimeOffset FirstDeliveredAt,
    DateTimeOffset LastDeliveredAt,
    DateTimeOffset DeadLetteredAt);

/// <summary>
/// An event kept after it failed: the whole event as published (its serialized <c>EventData</c>), where it was
/// (topic, sequence), who failed it, the last round and the earlier ones. Immutable; a replay that fails again files a
/// new one with the same <see cref="Id"/> and the last round added to <see cref="History"/>.
/// </summary>
public sealed class DeadLetter
{
    /// <summary>Creates a dead letter (a store that persists them rebuilds them with this).</summary>
    public DeadLetter(
        string id,
        string key,
        string topic,
        long sequence,
        ReadOnlyMemory<byte> eventBytes,
        DateTimeOffset publishedAt,
        DeadLetterSubscription subscription,
        DeadLetterRound last,
        IReadOnlyList<DeadLetterRound> history)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(subscription);
        ArgumentNullException.ThrowIfNull(last);
        ArgumentNullException.ThrowIfNull(history);
        Id = id;
        Key = key;
        Topic = topic;
        Sequence = sequence;
        EventBytes = eventBytes;
        PublishedAt = publishedAt;
        Subscription = subscription;
        Last = last;
        History = history;
    }

    /// <summary>32 hex characters, stable across replays.</summary>
    public string Id { get; }

    /// <summary>The API key name (broker: the connection's owner) whose subscription failed it.</summary>
    public string Key { get; }

    /// <summary>The event's topic.</summary>
    public string Topic { get; }

    /// <summary>The event's sequence number in its topic.</summary>
    public long Sequence { get; }

    /// <summary>The event as published, serialized (<c>EventData</c>).</summary>
    public ReadOnlyMemory<byte> EventBytes { get; }

    /// <summary>The event, parsed from <see cref="EventBytes"/> (a new object per call).</summary>
    public EventData Event => EventData.Parser.ParseFrom(EventBytes.Span);

    /// <summary>When the gateway accepted the event.</summary>
    public DateTimeOffset PublishedAt { get; }

    /// <summary>The subscription that failed it (a replay goes to it and no other).</summary>
    public DeadLetterSubscription Subscription { get; }

    /// <summary>The round that dead-lettered it last.</summary>
    public DeadLetterRound Last { get; }

    /// <summary>The earlier rounds, oldest first (one per failed replay).</summary>
    public IReadOnlyList<DeadLetterRound> History { get; }

    /// <summary>Times it was dead-lettered: 1 + the failed replays.</summary>
    public int Count => History.Count + 1;

    /// <summary>The dead letter as bytes (the gRPC API's <c>marieai.events.DeadLetter</c> message), as every store
    /// that persists dead letters keeps it.</summary>
    public byte[] ToBytes() => Storage.DeadLetterCodec.Encode(this);

    /// <summary>This dead letter as the gRPC API's <c>marieai.events.DeadLetter</c> message.</summary>
    public Protocol.DeadLetter ToProto() => Storage.DeadLetterCodec.ToProto(this);

    /// <summary>Reads <see cref="ToBytes"/>'s form.</summary>
    /// <exception cref="FormatException">Not a readable dead letter.</exception>
    public static DeadLetter FromBytes(ReadOnlySpan<byte> bytes) => Storage.DeadLetterCodec.Decode(bytes);
}
