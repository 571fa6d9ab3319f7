using System.Diagnostics;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Broker.Telemetry;

/// <summary>The broker's spans: one per delivery attempt, one per settle. Each is parented to the context stored
/// with its event, so they join the producer's trace; an event stored without a context gets none, and with no
/// listener on <see cref="MarieTracing.Source"/> the callers' one check (<see cref="Enabled"/>) is all it costs.
/// </summary>
internal static class BrokerTracing
{
    /// <summary>Whether a span of <paramref name="stored"/> could be recorded: it has a context and someone
    /// listens.</summary>
    public static bool Enabled(StoredEvent stored) => stored.HasTraceContext && MarieTracing.Source.HasListeners();

    /// <summary>The span of one delivery attempt, written now (caller checked <see cref="Enabled"/>).</summary>
    public static void Delivered(StoredEvent stored, InFlightEntry entry, string subscriptionId, int attempt)
    {
        var reason = attempt > 1 ? "redelivery"
            : entry.Replayed is not null ? "dead_letter_replay"
            : entry.FromRing ? "replay"
            : "live";
        using var activity = Start(stored, "deliver", "send", ActivityKind.Producer, subscriptionId);
        if (activity is null)
        {
            return;
        }

        activity.SetTag(MarieTracing.Attributes.DeliveryAttempt, attempt);
        activity.SetTag(MarieTracing.Attributes.DeliveryReason, reason);
    }

    /// <summary>The span of a settle verb of the client (<paramref name="verb"/>: ack, nack, terminate) on the
    /// delivery <paramref name="entry"/> (caller checked <see cref="Enabled"/>).</summary>
    public static void Settled(InFlightEntry entry, string subscriptionId, string verb)
    {
        using var activity = Start(entry.Event, verb, "settle", ActivityKind.Server, subscriptionId);
        activity?.SetTag(MarieTracing.Attributes.DeliveryAttempt, entry.Attempts);
    }

    private static Activity? Start(
        StoredEvent stored,
        string operation,
        string operationType,
        ActivityKind kind,
        string subscriptionId)
    {
        TraceContextBytes.Read(stored.TraceContextBytes, out var traceParent, out var traceState);
        if (!ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent))
        {
            return null;
        }

        // The conventions' span name: "{messaging.operation.name} {messaging.destination.name}".
        var activity = MarieTracing.Source.StartActivity(operation + " " + stored.Topic, kind, parent);
        if (activity is null)
        {
            return null;
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag(MarieTracing.Attributes.System, MarieTracing.MessagingSystem);
            activity.SetTag(MarieTracing.Attributes.OperationType, operationType);
            activity.SetTag(MarieTracing.Attributes.OperationName, operation);
            activity.SetTag(MarieTracing.Attributes.DestinationName, stored.Topic);
            activity.SetTag(MarieTracing.Attributes.SubscriptionName, subscriptionId);
            activity.SetTag(MarieTracing.Attributes.MessageId, EventDataFields.ReadId(stored.DataBytes));
            activity.SetTag(MarieTracing.Attributes.SequenceNum, stored.Sequence);
        }

        return activity;
    }
}
