namespace Marie.Events.Broker.Telemetry;

/// <summary>The W3C Trace Context names an event's trace context goes by: the gRPC metadata keys of a publish and the
/// keys of <c>EventData.trace_context</c> and <c>EventEnvelope.trace_context</c> (docs/tracing.md).</summary>
public static class TraceHeaders
{
    /// <summary><c>traceparent</c>: version, trace id, parent span id and flags.</summary>
    public const string TraceParent = "traceparent";

    /// <summary><c>tracestate</c>: vendor entries, passed on unchanged.</summary>
    public const string TraceState = "tracestate";

    /// <summary>The longest <c>tracestate</c> kept (W3C: 32 entries of up to 256 characters is the most a
    /// receiver must pass on, but 512 characters is what it should at least keep; longer values are dropped whole
    /// rather than cut, as a cut one could be malformed).</summary>
    public const int MaxTraceStateLength = 512;
}
