using System.Diagnostics;
using Grpc.Core;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Internal;

/// <summary>
/// The client's part of a trace: the caller's context sent with a publish (W3C <c>traceparent</c> and
/// <c>tracestate</c> metadata, which the gateway's <c>send</c> span continues), and a <c>process &lt;topic&gt;</c>
/// span (kind Consumer) per event handed to the application, parented to the context its envelope carries
/// (<c>EventEnvelope.trace_context</c>). An event without one gets no span; with no listener on the source, nothing
/// is created.
/// </summary>
internal static class ClientTracing
{
    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";

    public static ActivitySource Source { get; } = new(EventStreamClient.ActivitySourceName);

    /// <summary>Adds <see cref="Activity.Current"/>'s context to a publish call's <paramref name="headers"/>.</summary>
    public static Metadata WithTraceContext(Metadata headers)
    {
        var current = Activity.Current;
        if (current is null || current.IdFormat != ActivityIdFormat.W3C)
        {
            return headers;
        }

        headers.Add(TraceParent, current.Id!);
        if (!string.IsNullOrEmpty(current.TraceStateString))
        {
            headers.Add(TraceState, current.TraceStateString);
        }

        return headers;
    }

    /// <summary>Starts the process span of <paramref name="received"/>, or returns null (no context, no listener,
    /// not sampled).</summary>
    public static Activity? StartProcess(ReceivedEvent received)
    {
        var context = received.TraceContext;
        if (context.Count == 0
            || !Source.HasListeners()
            || !context.TryGetValue(TraceParent, out var traceParent))
        {
            return null;
        }

        context.TryGetValue(TraceState, out var traceState);
        if (!ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var parent))
        {
            return null;
        }

        // The conventions' span name: "{messaging.operation.name} {messaging.destination.name}".
        var activity = Source.StartActivity("process " + received.Topic, ActivityKind.Consumer, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "marie");
            activity.SetTag("messaging.operation.type", "process");
            activity.SetTag("messaging.operation.name", "process");
            activity.SetTag("messaging.destination.name", received.Topic);
            activity.SetTag("messaging.destination.subscription.name", received.SubscriptionId);
            activity.SetTag("messaging.message.id", received.Event.Id);
            activity.SetTag("messaging.marie.sequence_num", received.SequenceNum);
            activity.SetTag("messaging.marie.delivery.attempt", received.DeliveryAttempt);
        }

        return activity;
    }

    /// <summary>Ends a process span; <paramref name="error"/> marks it failed.</summary>
    public static void EndProcess(Activity? activity, Exception? error = null)
    {
        if (activity is null)
        {
            return;
        }

        if (error is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
        }

        activity.Stop();
    }

    /// <summary>The envelope's trace context (an empty map when it has none).</summary>
    public static IReadOnlyDictionary<string, string> Of(EventEnvelope envelope) => envelope.TraceContext;
}
