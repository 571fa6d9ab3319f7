namespace Marie.Events.Client;

/// <summary>Tracing (docs/client.md, "Traces").</summary>
public sealed partial class EventStreamClient
{
    /// <summary>
    /// The name of the client's <see cref="System.Diagnostics.ActivitySource"/>, <c>Marie.Events.Client</c>: add it
    /// to a tracer provider (<c>AddSource(EventStreamClient.ActivitySourceName)</c>) to record the client's
    /// <c>process &lt;topic&gt;</c> spans. Publishing sends the caller's
    /// <see cref="System.Diagnostics.Activity.Current"/> as <c>traceparent</c>/<c>tracestate</c> metadata whether or
    /// not this source is listened to.
    /// </summary>
    public const string ActivitySourceName = "Marie.Events.Client";
}
