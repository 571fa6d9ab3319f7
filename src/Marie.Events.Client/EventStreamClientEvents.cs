namespace Marie.Events.Client;

/// <summary>The state of an <see cref="EventStreamClient"/>'s event stream.</summary>
public enum EventStreamClientState
{
    /// <summary>No stream yet: nothing was subscribed.</summary>
    Idle = 0,

    /// <summary>Opening a stream (the first time, or after one ended: see
    /// <see cref="EventStreamClient.Statistics"/>).</summary>
    Connecting = 1,

    /// <summary>The stream is open and the gateway has answered on it.</summary>
    Connected = 2,

    /// <summary>The client gave up (refused key, too many failed attempts): see
    /// <see cref="EventStreamClient.Failure"/>. Subscriptions have ended.</summary>
    Failed = 3,

    /// <summary>The client was disposed.</summary>
    Disposed = 4,
}

/// <summary>A <c>BackpressureSignal</c>: the subscription has many unacknowledged events on the gateway.</summary>
public sealed class BackpressureEventArgs : EventArgs
{
    /// <summary>Creates it.</summary>
    public BackpressureEventArgs(string subscriptionId, TimeSpan recommendedDelay, long pendingEvents)
    {
        SubscriptionId = subscriptionId;
        RecommendedDelay = recommendedDelay;
        PendingEvents = pendingEvents;
    }

    /// <summary>The subscription.</summary>
    public string SubscriptionId { get; }

    /// <summary>The gateway's recommended delay (100 ms at its threshold, 1 s at the cap): ack sooner, or slow the
    /// producer.</summary>
    public TimeSpan RecommendedDelay { get; }

    /// <summary>The subscription's unacknowledged events on the gateway.</summary>
    public long PendingEvents { get; }
}

/// <summary>An error reported by the gateway or found by the client; <see cref="Error"/> is typed
/// (<see cref="EventsLostException"/>, <see cref="EpochChangedException"/>, <see cref="RateLimitedException"/>,
/// ...).</summary>
public sealed class EventStreamErrorEventArgs : EventArgs
{
    /// <summary>Creates it.</summary>
    public EventStreamErrorEventArgs(EventStreamException error) => Error = error;

    /// <summary>The error.</summary>
    public EventStreamException Error { get; }
}

/// <summary>The stream changed state.</summary>
public sealed class ConnectionStateChangedEventArgs : EventArgs
{
    /// <summary>Creates it.</summary>
    public ConnectionStateChangedEventArgs(EventStreamClientState state, Uri? address, Exception? error)
    {
        State = state;
        Address = address;
        Error = error;
    }

    /// <summary>The new state.</summary>
    public EventStreamClientState State { get; }

    /// <summary>The gateway address involved (the one connected to, or being tried), when any.</summary>
    public Uri? Address { get; }

    /// <summary>Why the previous stream ended, when it failed.</summary>
    public Exception? Error { get; }
}

/// <summary>Counters of one <see cref="EventStreamClient"/> since it was created (also published as metrics on the
/// <c>Marie.Events.Client</c> meter).</summary>
public sealed record EventStreamClientStatistics
{
    /// <summary>Event deliveries read from the stream, duplicates included.</summary>
    public long EventsReceived { get; init; }

    /// <summary>Events handed to consumers.</summary>
    public long EventsDelivered { get; init; }

    /// <summary>Deliveries dropped as duplicates of an event already processed or being processed (by topic and
    /// sequence number): redeliveries after a late ack, replays after a reconnect.</summary>
    public long DuplicatesDropped { get; init; }

    /// <summary>Events acknowledged to the gateway (an event covered by a cumulative ack counts once).</summary>
    public long EventsAcked { get; init; }

    /// <summary><c>AckMessage</c>s sent.</summary>
    public long AckMessagesSent { get; init; }

    /// <summary>Streams opened that the gateway answered on.</summary>
    public long Connections { get; init; }

    /// <summary>Streams that ended other than by disposal (each one is followed by a reconnect unless fatal).</summary>
    public long Disconnections { get; init; }

    /// <summary>Streams replaced because the gateway was silent for two heartbeat intervals.</summary>
    public long SilentGatewayTimeouts { get; init; }

    /// <summary><c>BackpressureSignal</c>s received.</summary>
    public long BackpressureSignals { get; init; }

    /// <summary><c>ErrorMessage</c>s received.</summary>
    public long Errors { get; init; }

    /// <summary>Topics whose epoch changed under a subscription (de-duplication reset).</summary>
    public long EpochChanges { get; init; }

    /// <summary>Events reported lost (<c>ERROR_EVENTS_LOST</c>), summed over the ranges.</summary>
    public long EventsLost { get; init; }

    /// <summary>Events published (answered by the gateway).</summary>
    public long EventsPublished { get; init; }
}
