using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

internal enum OutboundKind
{
    /// <summary>
    /// An event delivery: built at write time from the in-flight entry, if it is still the same delivery.
    /// </summary>
    Event,

    /// <summary>An answer to a client message: counts against the control backlog that paces the reader.</summary>
    Reply,

    /// <summary>A message the broker raises itself (backpressure, lost events): bounded by its own rules.</summary>
    Notice,

    /// <summary>A heartbeat, built at write time so its heads are fresh; at most one is queued.</summary>
    Heartbeat,
}

/// <summary>One item of a connection's write queue. An event item carries its event, so the writer needs nothing
/// from the in-flight entry but its generation check.</summary>
internal readonly record struct Outbound(
    OutboundKind Kind,
    Subscription? Subscription = null,
    InFlightEntry? Entry = null,
    long Generation = 0,
    int Attempt = 0,
    ServerMessage? Message = null,
    StoredEvent? Event = null);
