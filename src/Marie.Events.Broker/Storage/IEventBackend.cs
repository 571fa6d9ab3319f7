using Marie.Events.Protocol;

namespace Marie.Events.Broker.Storage;

/// <summary>
/// Where the broker keeps its events: the one storage contract every backend implements (memory, file, Redis).
/// A backend assigns each topic's sequence numbers (from 1, contiguous) under the topic's epoch, stores the events
/// as durably as it promises, and hands every event it holds, whether appended here or by another gateway, to the
/// broker's <see cref="IEventBackendListener"/> in sequence order. The broker keeps the last <c>replay_size</c>
/// events of each topic in a memory ring fed only through that listener, and serves every read from it.
/// </summary>
/// <remarks>
/// Call order: <see cref="StartAsync"/> once (it loads what the backend holds into the listener before it returns,
/// so the gateway reports SERVING only with its rings filled), then any number of concurrent
/// <see cref="AppendAsync"/> calls, then <c>DisposeAsync</c>. Appends of one topic are made in the topic's order,
/// at most <see cref="MaxAppendsInFlight"/> at once; a retry of a failed append (the same list again) is made only
/// once every earlier append of the topic settled, and no new append of the topic starts until every append in
/// flight settled.
/// </remarks>
public interface IEventBackend : IAsyncDisposable
{
    /// <summary>The backend's name as configured (<c>toast.grpc.broker.backend</c>): memory, file or redis.</summary>
    string Name { get; }

    /// <summary>The epoch a topic starts with when the broker creates it before the backend handed it any event
    /// (a subscription to a topic nobody published to yet): a new random one where this backend assigns epochs
    /// (memory, file), empty where a shared store does and it is learnt with the topic's first event (Redis).</summary>
    string InitialEpoch(string topic);

    /// <summary>How many appends of one topic the caller may have in flight at once (pipelined, issued in order).
    /// 1 (the default): one at a time. A backend that answers more must file them in the order they were made and
    /// must not file an append whose predecessor failed and was not filed, so a retry cannot reorder the
    /// topic.</summary>
    int MaxAppendsInFlight => 1;

    /// <summary>
    /// Loads every topic the backend holds into <paramref name="listener"/> (at most <c>replay_size</c> recent
    /// events each, through <see cref="IEventBackendListener.Apply"/>), then starts handing it events appended
    /// elsewhere, if the backend is shared. Returns once the load is complete.
    /// </summary>
    /// <exception cref="BackendException">The store cannot be opened or read (the message names the file or
    /// server and what to do).</exception>
    Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken);

    /// <summary>
    /// Appends <paramref name="events"/> (one topic's, in order) under the next sequence numbers and returns the
    /// epoch and the first number: event <c>i</c> got <c>FirstSequence + i</c>. Completes once the events are
    /// stored as the backend promises (file with fsync always: on disk). The events reach the listener in sequence
    /// order, before this completes (memory, file) or through the backend's fan-out (Redis). An append that throws
    /// stored nothing, or stored it under a retry-safe token, so that the same <paramref name="events"/> list
    /// appended again is not stored twice.
    /// </summary>
    /// <param name="topic">The topic; the broker created it (or checked room for it) before.</param>
    /// <param name="events">The events, already validated and normalised; the backend must not change them.</param>
    /// <param name="publishedAt">The time the events were accepted (their <c>published_at</c>).</param>
    /// <param name="cancellationToken">Gives up waiting; the append may still complete.</param>
    /// <exception cref="BackendException">The store failed (disk full, I/O error, server away): nothing was
    /// acknowledged; the caller may retry.</exception>
    ValueTask<AppendResult> AppendAsync(
        string topic,
        IReadOnlyList<EventData> events,
        DateTimeOffset publishedAt,
        CancellationToken cancellationToken);

    /// <summary>The events <paramref name="first"/>..<paramref name="last"/> (inclusive) of a topic that the backend
    /// still holds, in sequence order.</summary>
    ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(
        string topic,
        long first,
        long last,
        CancellationToken cancellationToken);

    /// <summary>Where each named topic stands in the backend (head, first available, epoch); topics it does not
    /// know are left out.</summary>
    ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
        IReadOnlyCollection<string> topics,
        CancellationToken cancellationToken);

    /// <summary>Every topic the backend holds.</summary>
    ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken);
}

/// <summary>The broker as a backend sees it: where events and resets go. Thread-safe: calls for different topics
/// may run at once; a topic's events must be applied in order.</summary>
public interface IEventBackendListener
{
    /// <summary>
    /// Stores events of one topic at the sequence numbers they carry and offers them to the matching subscriptions.
    /// Callers hand a topic's events in sequence order, one call at a time per topic.
    /// </summary>
    /// <param name="topic">The topic.</param>
    /// <param name="epoch">The backend's epoch of the topic.</param>
    /// <param name="events">Events in ascending sequence order.</param>
    /// <param name="allowGap">True: the first event may come after missing numbers (they read as lost). Used for
    /// the first event a backend loads or fills, when it holds no more than that.</param>
    ApplyOutcome Apply(string topic, string epoch, ReadOnlySpan<BackendEvent> events, bool allowGap);

    /// <summary>The backend's log of <paramref name="topic"/> was reset under a new <paramref name="epoch"/> (a
    /// shared store lost its data): the topic starts over empty, and its subscribed streams are closed so that their
    /// clients resume. Returns the number of streams closed.</summary>
    int Reset(string topic, string epoch);

    /// <summary>The epoch and head of the broker's ring of a topic; null when the topic does not exist.</summary>
    TopicPosition? GetTopicPosition(string topic);

    /// <summary>The topics the broker holds.</summary>
    IReadOnlyList<string> TopicNames();
}

/// <summary>What <see cref="IEventBackendListener.Apply"/> did.</summary>
public enum ApplyOutcome
{
    /// <summary>Every event not yet held was stored and offered.</summary>
    Applied,

    /// <summary>Every event was held already (its number is not above the topic's head): nothing changed.</summary>
    AlreadyHeld,

    /// <summary>Numbers between the ring's head and the first new event are missing: nothing stored. Read them
    /// from the backend and apply them in order (the first call with <c>allowGap</c>).</summary>
    Gap,

    /// <summary>The epoch is not the ring's (the store was reset): nothing stored. Call
    /// <see cref="IEventBackendListener.Reset"/>.</summary>
    EpochChanged,
}

/// <summary>
/// One event as a backend holds it: either the parsed <see cref="EventData"/> or its protobuf bytes. A backend that
/// stores bytes hands them over as they are (<see cref="BackendEvent(long, ReadOnlyMemory{byte}, DateTimeOffset)"/>):
/// the ring copies them without parsing, which is what makes a start-up load of millions of events fast.
/// </summary>
public readonly struct BackendEvent : IEquatable<BackendEvent>
{
    private readonly EventData? _event;

    /// <summary>A parsed event.</summary>
    /// <param name="sequence">Its sequence number within its topic.</param>
    /// <param name="event">The event; whoever receives it takes ownership (does not change it).</param>
    /// <param name="publishedAt">When it was accepted.</param>
    public BackendEvent(long sequence, EventData @event, DateTimeOffset publishedAt)
    {
        ArgumentNullException.ThrowIfNull(@event);
        Sequence = sequence;
        _event = @event;
        PublishedAt = publishedAt;
    }

    /// <summary>An event as its serialized <c>EventData</c> bytes.</summary>
    /// <param name="sequence">Its sequence number within its topic.</param>
    /// <param name="encodedEvent">The <c>EventData</c> message's bytes; the receiver copies what it keeps, so the
    /// memory may be reused once the call that took this value returns.</param>
    /// <param name="publishedAt">When it was accepted.</param>
    public BackendEvent(long sequence, ReadOnlyMemory<byte> encodedEvent, DateTimeOffset publishedAt)
    {
        Sequence = sequence;
        EncodedEvent = encodedEvent;
        PublishedAt = publishedAt;
    }

    /// <summary>Its sequence number within its topic.</summary>
    public long Sequence { get; }

    /// <summary>When it was accepted.</summary>
    public DateTimeOffset PublishedAt { get; }

    /// <summary>Whether the event is held as bytes (<see cref="EncodedEvent"/>) rather than parsed.</summary>
    public bool IsEncoded => _event is null;

    /// <summary>The event's bytes when it was built from them; empty for a parsed event.</summary>
    public ReadOnlyMemory<byte> EncodedEvent { get; }

    /// <summary>The event. For an event built from bytes, each call parses them into a new object: read it
    /// once.</summary>
    /// <exception cref="Google.Protobuf.InvalidProtocolBufferException">The bytes are not an
    /// <c>EventData</c>.</exception>
    public EventData Event => _event ?? EventData.Parser.ParseFrom(EncodedEvent.Span);

    /// <inheritdoc />
    public bool Equals(BackendEvent other) =>
        Sequence == other.Sequence && PublishedAt == other.PublishedAt && Equals(Event, other.Event);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is BackendEvent other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Sequence, PublishedAt);

    /// <summary>Whether two events have the same number, time and content.</summary>
    public static bool operator ==(BackendEvent left, BackendEvent right) => left.Equals(right);

    /// <summary>Whether two events differ in number, time or content.</summary>
    public static bool operator !=(BackendEvent left, BackendEvent right) => !left.Equals(right);
}

/// <summary>Where an append was filed: event <c>i</c> of the batch got <c>FirstSequence + i</c>.</summary>
/// <param name="Epoch">The topic's epoch.</param>
/// <param name="FirstSequence">The first event's sequence number.</param>
public readonly record struct AppendResult(string Epoch, long FirstSequence);

/// <summary>Where a topic stands in a backend.</summary>
/// <param name="Epoch">The topic's epoch.</param>
/// <param name="Head">The last sequence number assigned, 0 when none.</param>
/// <param name="FirstAvailable">The oldest number still held; <paramref name="Head"/> + 1 when none.</param>
public readonly record struct BackendTopic(string Epoch, long Head, long FirstAvailable)
{
    /// <summary>Events held.</summary>
    public long Buffered => Head - FirstAvailable + 1;
}

/// <summary>What <see cref="IEventBackend.StartAsync"/> loaded.</summary>
/// <param name="Topics">Topics loaded.</param>
/// <param name="Events">Events loaded into the rings.</param>
public readonly record struct BackendLoad(int Topics, long Events);

/// <summary>Where a topic's ring stands.</summary>
/// <param name="Epoch">The ring's epoch.</param>
/// <param name="Head">The last sequence number held, 0 when none.</param>
public readonly record struct TopicPosition(string Epoch, long Head);

/// <summary>A backend failed: its store cannot be read or written. At start-up it stops the gateway; on an append
/// it fails that attempt (nothing acknowledged) and the caller may retry.</summary>
public sealed class BackendException : Exception
{
    /// <summary>A failure with no message.</summary>
    public BackendException()
    {
    }

    /// <summary>A failure described by <paramref name="message"/>.</summary>
    public BackendException(string message)
        : base(message)
    {
    }

    /// <summary>
    /// A failure described by <paramref name="message"/>, caused by <paramref name="innerException"/>.
    /// </summary>
    public BackendException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
