using System.Diagnostics;
using System.Globalization;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// The publish span, <c>send &lt;topic&gt;</c>, one per event, from its acceptance to the answer (docs/tracing.md).
/// Its parent is the context the event came with (<c>trace_context</c> or the call's metadata, normalised by
/// <see cref="PublishAdmission"/>), or the request's own span when the host traces requests and it is in the same
/// trace. Once recorded, its context replaces the event's, so that deliveries and the consumer's process span hang
/// below it; an event whose span is not recorded keeps the producer's context as it came. With no listener on
/// <see cref="MarieTracing.Source"/>, nothing is created.
/// </summary>
internal static class PublishTracing
{
    /// <summary>Starts the span of <paramref name="evt"/> (admitted: topic and id set), or returns null.</summary>
    public static Activity? Start(EventData evt)
    {
        if (!MarieTracing.Source.HasListeners())
        {
            return null;
        }

        var current = Activity.Current;
        // default: the flow's current activity (the host's request span) is the parent, when there is one.
        var parent = default(ActivityContext);
        if (evt.TraceContext is { } context)
        {
            ActivityContext.TryParse(context.Traceparent, context.Tracestate, isRemote: true, out var producer);
            if (current is null || current.TraceId != producer.TraceId)
            {
                parent = producer;
            }
        }

        // Server: the gateway's side of the producer's call; Internal when nested in the host's request span.
        var nested = parent == default && current is not null;
        var kind = nested ? ActivityKind.Internal : ActivityKind.Server;
        var activity = MarieTracing.Source.StartActivity("send " + evt.ApiKey, kind, parent);
        if (activity is null)
        {
            return null;
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag(MarieTracing.Attributes.System, MarieTracing.MessagingSystem);
            activity.SetTag(MarieTracing.Attributes.OperationType, "send");
            activity.SetTag(MarieTracing.Attributes.OperationName, "send");
            activity.SetTag(MarieTracing.Attributes.DestinationName, evt.ApiKey);
            activity.SetTag(MarieTracing.Attributes.MessageId, evt.Id);
        }

        if (activity.Recorded)
        {
            evt.TraceContext = new TraceContext
            {
                Traceparent = string.Create(
                    CultureInfo.InvariantCulture,
                    $"00-{activity.TraceId}-{activity.SpanId}-01"),
                Tracestate = activity.TraceStateString ?? "",
            };
        }

        // Started on the caller's flow: the span is ended explicitly, and must not become the flow's current one.
        Activity.Current = current;
        return activity;
    }

    /// <summary>Ends the span with the event's number.</summary>
    public static void Filed(Activity? activity, long sequence)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag(MarieTracing.Attributes.SequenceNum, sequence);
        activity.Stop();
    }

    /// <summary>Ends the span as failed.</summary>
    public static void Failed(Activity? activity, Exception error) => Failed(activity, error.Message);

    /// <summary>Ends the span as failed, with <paramref name="description"/>.</summary>
    public static void Failed(Activity? activity, string description)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetStatus(ActivityStatusCode.Error, description);
        activity.Stop();
    }
}
