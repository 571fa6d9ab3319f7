using System.Diagnostics;
using Grpc.Core;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// A publish call's W3C trace context, from its gRPC metadata (<c>traceparent</c>, <c>tracestate</c>), read once
/// per call; and the normalisation of an event's <c>trace_context</c> that <see cref="PublishAdmission"/> applies:
/// the event's own entries win over the call's, only a well-formed <c>traceparent</c> is kept (W3C: a receiver
/// ignores one it cannot parse, it does not fail the request), a <c>tracestate</c> only with it and only up to
/// <see cref="TraceHeaders.MaxTraceStateLength"/> characters. An event and a call without a context are left as
/// they are, at no cost.
/// </summary>
/// <param name="TraceParent">The call's <c>traceparent</c> metadata, or null.</param>
/// <param name="TraceState">The call's <c>tracestate</c> metadata, or null.</param>
internal readonly record struct PublishTraceContext(string? TraceParent, string? TraceState)
{
    /// <summary>The context of the call <paramref name="context"/> (none for a call without metadata).</summary>
    public static PublishTraceContext Of(ServerCallContext? context)
    {
        var headers = context?.RequestHeaders;
        if (headers is null || headers.Count == 0)
        {
            return default;
        }

        return new PublishTraceContext(
            headers.GetValue(TraceHeaders.TraceParent),
            headers.GetValue(TraceHeaders.TraceState));
    }

    /// <summary>Gives <paramref name="evt"/> the call's context when it has none of its own, then keeps only what
    /// is well-formed.</summary>
    public void ApplyTo(EventData evt)
    {
        if (evt.TraceContext is null)
        {
            if (TraceParent is null)
            {
                return;
            }

            evt.TraceContext = new TraceContext { Traceparent = TraceParent, Tracestate = TraceState ?? "" };
        }

        var context = evt.TraceContext;
        if (!ActivityContext.TryParse(context.Traceparent, null, out _))
        {
            evt.TraceContext = null;
        }
        else if (context.Tracestate.Length > TraceHeaders.MaxTraceStateLength)
        {
            context.Tracestate = "";
        }
    }
}
