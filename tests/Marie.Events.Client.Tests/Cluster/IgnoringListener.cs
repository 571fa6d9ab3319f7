using Marie.Events.Backends.Redis;
using Marie.Events.Broker.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>A backend listener that holds nothing: for tests that read Redis itself (or the backend's reads).</summary>
internal sealed class IgnoringListener : IEventBackendListener
{
    /// <summary>A Redis backend started with <paramref name="options"/> and a listener that holds nothing.</summary>
    public static async Task<RedisEventBackend> StartBackendAsync(RedisBackendOptions options)
    {
        var backend = new RedisEventBackend(options, NullLogger<RedisEventBackend>.Instance);
        await backend.StartAsync(new IgnoringListener(), default);
        return backend;
    }

    public ApplyOutcome Apply(string topic, string epoch, ReadOnlySpan<BackendEvent> events, bool allowGap) =>
        ApplyOutcome.Applied;

    public int Reset(string topic, string epoch) => 0;

    public TopicPosition? GetTopicPosition(string topic) => null;

    public IReadOnlyList<string> TopicNames() => [];
}
