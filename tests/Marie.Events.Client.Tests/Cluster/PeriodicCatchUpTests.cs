using Marie.Events.Backends.Redis;
using Marie.Events.Broker.Storage;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// The periodic catch-up on a real redis-server: an announcement that never reached a gateway (Redis PUB/SUB
/// delivers at most once) is filled from the shared log even when no later announcement of the topic reveals the
/// gap. Backend A publishes; backend B follows with a listener that can lose the next announcement.
/// </summary>
public sealed class PeriodicCatchUpTests
{
    [Fact]
    public async Task Announcement_LostWithNoLaterOne_FilledByThePeriodicCatchUp()
    {
        await using var redis = await RedisServer.StartAsync(appendOnly: false);
        var listener = new LossyListener();
        await using var a = await StartAsync(redis, new LossyListener());
        await using var b = await StartAsync(redis, listener);
        await a.AppendAsync("audit", [Event("ev-1")], DateTimeOffset.UtcNow, default);
        await Wait.UntilAsync(() => listener.Head("audit") == 1, "B holding the first event");

        listener.LoseNextAnnouncement = true;
        await a.AppendAsync("audit", [Event("ev-2"), Event("ev-3")], DateTimeOffset.UtcNow, default);

        // Two catch-up intervals (200 ms each) see the head stand still; the wait allows many more.
        await Wait.UntilAsync(
            () => listener.Head("audit") == 3,
            "B holding the events of the lost announcement");
        Assert.True(listener.LostOne);
    }

    private static async Task<RedisEventBackend> StartAsync(RedisServer redis, IEventBackendListener listener)
    {
        var backend = new RedisEventBackend(
            new RedisBackendOptions
            {
                Connection = redis.Connection,
                KeyPrefix = "audit:",
                ReplaySize = 100,
                CatchUpIntervalMs = 200,
            },
            NullLogger<RedisEventBackend>.Instance);
        await backend.StartAsync(listener, default);
        return backend;
    }

    private static EventData Event(string id) => new() { ApiKey = "audit-test", Event = "job.done", Id = id };

    /// <summary>Keeps each topic's head as a ring would (in order, a gap refused unless allowed); loses the next
    /// announced batch when told to.</summary>
    private sealed class LossyListener : IEventBackendListener
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, TopicPosition> _heads = new(StringComparer.Ordinal);

        private bool _loseNext;
        private bool _lostOne;

        /// <summary>Set by the test thread, read by the backend's apply loop: both under the lock.</summary>
        public bool LoseNextAnnouncement
        {
            set
            {
                lock (_gate)
                {
                    _loseNext = value;
                }
            }
        }

        public bool LostOne
        {
            get
            {
                lock (_gate)
                {
                    return _lostOne;
                }
            }
        }

        public long Head(string topic)
        {
            lock (_gate)
            {
                return _heads.TryGetValue(topic, out var position) ? position.Head : 0;
            }
        }

        public ApplyOutcome Apply(string topic, string epoch, ReadOnlySpan<BackendEvent> events, bool allowGap)
        {
            lock (_gate)
            {
                if (!allowGap && _loseNext)
                {
                    _loseNext = false;
                    _lostOne = true;
                    return ApplyOutcome.Applied;
                }

                var head = _heads.TryGetValue(topic, out var position) ? position.Head : 0;
                if (events[^1].Sequence <= head)
                {
                    return ApplyOutcome.AlreadyHeld;
                }

                if (events[0].Sequence > head + 1 && !allowGap)
                {
                    return ApplyOutcome.Gap;
                }

                _heads[topic] = new TopicPosition(epoch, events[^1].Sequence);
                return ApplyOutcome.Applied;
            }
        }

        public int Reset(string topic, string epoch)
        {
            lock (_gate)
            {
                _heads.Remove(topic);
                return 0;
            }
        }

        public TopicPosition? GetTopicPosition(string topic)
        {
            lock (_gate)
            {
                return _heads.TryGetValue(topic, out var position) ? position : null;
            }
        }

        public IReadOnlyList<string> TopicNames()
        {
            lock (_gate)
            {
                return [.. _heads.Keys];
            }
        }
    }
}
