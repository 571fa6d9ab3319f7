namespace Marie.Events.FunctionalTests.Tracing;

/// <summary>Test classes that listen to the <c>Marie.Events</c> source (an <c>ActivityListener</c>, or a gateway
/// whose OTLP tracer provider is on) or that assert which context an event carries. A listener is process-wide: it
/// makes every gateway in the test process record spans, which changes the context another test's events carry.
/// These classes run one at a time, and not beside the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TraceListenerGroup
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Marie.Events trace listeners";
}
