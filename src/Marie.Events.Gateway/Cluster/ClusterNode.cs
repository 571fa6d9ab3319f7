using System.Security.Cryptography;
using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker;
using Marie.Events.Broker.Limits;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Marie.Events.Gateway.Cluster;

/// <summary>
/// Cluster mode (<c>toast.grpc.broker.backend: redis</c>): connects to Redis, loads every topic's recent events
/// into the local broker at start, and keeps the broker's rings in step with the shared log from then on. Every
/// accepted event is announced on one fan-out channel; one loop applies announcements in the order Redis sent
/// them, so a topic's events reach the broker in sequence order. A gap (announcements missed while the subscriber
/// connection was down) is filled from the log before the event that revealed it; after a reconnect every topic is
/// caught up. With the memory backend this service does nothing.
/// </summary>
internal sealed class ClusterNode(
    IOptions<ToastOptions> toast,
    GrpcEventBroker broker,
    ILogger<ClusterNode> logger) : IHostedService, IAsyncDisposable
{
    /// <summary>Work for the apply loop, which runs one item at a time. Unbounded: announcements arrive at the rate
    /// Redis accepts events, and the loop only copies them into memory rings.</summary>
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    /// <summary>When the second catch-up after a reconnect runs: well after the client library re-subscribed
    /// (it does so as part of restoring the connection, within milliseconds on a healthy network).</summary>
    private static readonly TimeSpan SecondCatchUpDelay = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stop = new();
    private ConnectionMultiplexer? _redis;
    private ChannelMessageQueue? _fanout;
    private Task? _loop;

    /// <summary>The shared log; null until started (and with the memory backend).</summary>
    public RedisEventLog? Log { get; private set; }

    public bool Enabled => toast.Value.Grpc.Broker.IsRedis;

    public int ReplaySize => toast.Value.Grpc.Broker.ReplaySize;

    /// <summary>This gateway's name in the stats.</summary>
    public string Name { get; } = toast.Value.Grpc.Broker.Redis.NodeName ?? $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>A candidate epoch: 16 lowercase hex chars (64 random bits), kept by Redis only for a new topic.</summary>
    public static string NewEpoch() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return;
        }

        broker.UseSharedLog();
        var settings = toast.Value.Grpc.Broker.Redis;
        var options = ConfigurationOptions.Parse(settings.Connection!);
        // Fail start-up when Redis cannot be reached at all; once connected, the client reconnects by itself.
        options.AbortOnConnectFail = true;
        try
        {
            _redis = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            throw new InvalidOperationException(
                $"toast.grpc.broker.backend is redis but Redis at toast.grpc.broker.redis.connection ('{settings.Connection}') cannot be reached: {ex.Message}", ex);
        }

        _redis.ConnectionFailed += (_, e) => ClusterLog.ConnectionLost(logger, e.FailureType, e.Exception);
        _redis.ConnectionRestored += (_, e) =>
        {
            ClusterLog.ConnectionRestored(logger, e.ConnectionType);
            _work.Writer.TryWrite(new CatchUp(null));
            // The client re-subscribes to the fan-out channel on its own schedule: an event announced between this
            // catch-up and the re-subscription would wait for its topic's next event. A second catch-up a moment
            // later closes that window.
            _ = Task.Delay(SecondCatchUpDelay, _stop.Token)
                .ContinueWith(_ => _work.Writer.TryWrite(new CatchUp(null)), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        };
        Log = new RedisEventLog(_redis, settings.KeyPrefix);

        // The first catch-up is queued before the subscription, so announcements that arrive while it reads the
        // log are applied after it (and those it already applied are ignored as held).
        var loaded = new TaskCompletionSource<(int, long)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Writer.TryWrite(new CatchUp(loaded));
        _fanout = await _redis.GetSubscriber().SubscribeAsync(Log.FanoutChannel).ConfigureAwait(false);
        _fanout.OnMessage(message => _work.Writer.TryWrite(new Announcement((byte[])message.Message!)));
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        var (topics, events) = await loaded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var endpoints = string.Join(",", options.EndPoints);
        ClusterLog.Started(logger, Name, endpoints, settings.KeyPrefix, topics, events);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_fanout is not null)
        {
            await _fanout.UnsubscribeAsync().ConfigureAwait(false);
        }

        _work.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Cluster-wide head and buffered count of each topic, read from Redis.</summary>
    public Task<Dictionary<string, (long Head, long Buffered)>> TopicFiguresAsync(IEnumerable<string> topics) =>
        (Log ?? throw new InvalidOperationException("cluster mode is not started")).TopicFiguresAsync(topics);

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await foreach (var work in _work.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                switch (work)
                {
                    case Announcement a:
                        await ApplyAnnouncementAsync(a.Message).ConfigureAwait(false);
                        break;
                    case CatchUp c:
                        var loaded = await CatchUpAsync().ConfigureAwait(false);
                        c.Done?.TrySetResult(loaded);
                        break;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The loop must outlive any one failure: it is the only path from Redis to the local rings.
                ClusterLog.ApplyFailed(logger, ex);
                if (work is CatchUp { Done: { } done })
                {
                    done.TrySetException(ex);
                }
                // A failure here mostly comes from Redis being away: the catch-up after its return fills what was
                // missed. Anything else is logged, and the next announcement of the topic finds the gap and fills it.
            }
        }
    }

    private async Task ApplyAnnouncementAsync(byte[] message)
    {
        if (!RedisEventLog.TryParseAnnouncement(message, out var topic, out var epoch, out var shared))
        {
            ClusterLog.BadAnnouncement(logger, message.Length);
            return;
        }

        switch (Apply(topic, epoch, shared, allowGap: false))
        {
            case ReplicaOutcome.Gap:
                await FillAsync(topic, epoch, shared.Sequence).ConfigureAwait(false);
                break;
            case ReplicaOutcome.EpochChanged:
                Reset(topic, epoch);
                if (Apply(topic, epoch, shared, allowGap: false) == ReplicaOutcome.Gap)
                {
                    await FillAsync(topic, epoch, shared.Sequence).ConfigureAwait(false);
                }

                break;
        }
    }

    /// <summary>Brings every topic up to the shared log's head; returns (topics, events applied).</summary>
    private async Task<(int Topics, long Events)> CatchUpAsync()
    {
        var log = Log!;
        var names = new HashSet<string>(await log.TopicsAsync().ConfigureAwait(false), StringComparer.Ordinal);
        names.UnionWith(broker.TopicNames());
        var topics = 0;
        long events = 0;
        foreach (var topic in names)
        {
            if (await log.PositionAsync(topic).ConfigureAwait(false) is not { } shared)
            {
                // Redis does not know the topic (it lost its data and nothing was published since): the first
                // publish gives it a new epoch, which resets it here then.
                continue;
            }

            topics++;
            var local = broker.GetTopicPosition(topic);
            if (local is { Head: > 0 } l && !string.Equals(l.Epoch, shared.Epoch, StringComparison.Ordinal))
            {
                Reset(topic, shared.Epoch);
                local = null;
            }

            if (shared.Head > (local?.Head ?? 0))
            {
                events += await FillAsync(topic, shared.Epoch, shared.Head).ConfigureAwait(false);
            }
        }

        return (topics, events);
    }

    /// <summary>Applies the events after the local head up to <paramref name="upTo"/> (at most replay_size of them)
    /// from the log; numbers the log no longer holds read as lost.</summary>
    private async Task<int> FillAsync(string topic, string epoch, long upTo)
    {
        var head = broker.GetTopicPosition(topic)?.Head ?? 0;
        var from = Math.Max(head + 1, upTo - ReplaySize + 1);
        var events = await Log!.RangeAsync(topic, from, upTo).ConfigureAwait(false);
        var applied = 0;
        foreach (var shared in events)
        {
            var outcome = Apply(topic, epoch, shared, allowGap: applied == 0);
            if (outcome == ReplicaOutcome.EpochChanged)
            {
                // Redis was reset while this was read: the next announcement or catch-up sorts it out.
                break;
            }

            applied += outcome == ReplicaOutcome.Applied ? 1 : 0;
        }

        ClusterLog.GapFilled(logger, topic, applied, upTo);
        return applied;
    }

    private ReplicaOutcome Apply(string topic, string epoch, SharedEvent shared, bool allowGap)
    {
        try
        {
            var data = EventData.Parser.ParseFrom(shared.Data);
            var publishedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(shared.PublishedAtMs));
            return broker.ApplyReplicated(topic, epoch, shared.Sequence, data, publishedAt, allowGap);
        }
        catch (BrokerLimitException ex)
        {
            // This gateway holds max_topics topics already: the topic is not served here.
            ClusterLog.NotApplied(logger, topic, shared.Sequence, ex.Message);
            return ReplicaOutcome.AlreadyHeld;
        }
    }

    private void Reset(string topic, string epoch)
    {
        var closed = broker.ResetTopic(topic, epoch);
        ClusterLog.EpochChanged(logger, topic, epoch, closed);
    }

    private abstract record Work;

    private sealed record Announcement(byte[] Message) : Work;

    /// <summary>Catch up every topic; <paramref name="Done"/> (start-up's) gets the figures.</summary>
    private sealed record CatchUp(TaskCompletionSource<(int, long)>? Done) : Work;
}
