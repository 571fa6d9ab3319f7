using Marie.Events.Broker.Storage;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>A backend listener that holds nothing: for tests that read Redis itself (or the backend's reads).</summary>
internal sealed class IgnoringListener : IEventBackendListener
{
    public ApplyOutcome Apply(string topic, string epoch, ReadOnlySpan<BackendEvent> events, bool allowGap) =>
        ApplyOutcome.Applied;

    public int Reset(string topic, string epoch) => 0;

    public TopicPosition? GetTopicPosition(string topic) => null;

    public IReadOnlyList<string> TopicNames() => [];
}
