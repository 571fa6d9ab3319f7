using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Threading.Channels;
using Google.Protobuf;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>
/// Cluster mode (<c>toast.grpc.broker.backend: redis</c>): the event log shared by every gateway in Redis
/// (<see cref="RedisEventLog"/>). An append is one script that numbers, stores and announces a batch; the producer
/// is answered once Redis accepted it. Every accepted event is announced on one fan-out channel; one loop applies
/// announcements to the broker (<see cref="IEventBackendListener"/>) in the order Redis sent them, so a topic's
/// events reach the rings in sequence order, this gateway's own included. A gap (announcements missed while the
/// subscriber connection was down) is filled from the log before the event that revealed it; after a reconnect
/// every topic is caught up.
/// </summary>
public sealed class RedisEventBackend : IEventBackend, IDurableStore
{
    /// <summary>The backend's configured name.</summary>
    public const string BackendName = "redis";

    /// <summary>When the second catch-up after a reconnect runs: well after the client library re-subscribed
    /// (it does so as part of restoring the connection, within milliseconds on a healthy network).</summary>
    private static readonly TimeSpan SecondCatchUpDelay = TimeSpan.FromSeconds(1);

    /// <summary>Work for the apply loop, which runs one item at a time. Unbounded: announcements arrive at the rate
    /// Redis accepts events, and the loop only copies them into memory rings.</summary>
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(
        new UnboundedChannelOptions { SingleReader = true });

    /// <summary>One token per appended batch, the same for each of its attempts (the toast handler retries the
    /// same list).</summary>
    private readonly ConditionalWeakTable<IReadOnlyList<EventData>, string> _tokens = [];

    private readonly CancellationTokenSource _stop = new();
    private readonly RedisBackendOptions _options;
    private readonly ILogger _logger;
    private IEventBackendListener? _listener;
    private ConnectionMultiplexer? _redis;
    private RedisDurableStore? _durables;
    private ChannelMessageQueue? _fanout;
    private Task? _loop;
    private readonly RedisMetrics _metrics;
    private int _disposed;

    /// <summary>A backend on the Redis <paramref name="options"/> name; connects in <see cref="StartAsync"/>.</summary>
    public RedisEventBackend(RedisBackendOptions options, ILogger<RedisEventBackend> logger)
        : this(options, logger, null)
    {
    }

    /// <summary>A backend on the Redis <paramref name="options"/> name that records
    /// <c>marie.events.redis.duration</c> on the <see cref="Broker.Telemetry.MarieTelemetry.Name"/> meter of
    /// <paramref name="meterFactory"/> (none when null); connects in <see cref="StartAsync"/>.</summary>
    public RedisEventBackend(
        RedisBackendOptions options,
        ILogger<RedisEventBackend> logger,
        IMeterFactory? meterFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger;
        _metrics = new RedisMetrics(meterFactory);
        NodeName = options.NodeName ?? $"{Environment.MachineName}-{Environment.ProcessId}";
    }

    /// <inheritdoc />
    public string Name => BackendName;

    /// <summary>This gateway's name in the stats.</summary>
    public string NodeName { get; }

    /// <summary>The shared log; null until started.</summary>
    internal RedisEventLog? Log { get; private set; }

    private int ReplaySize => _options.ReplaySize;

    /// <summary>Empty: Redis assigns a topic's epoch, learnt with its first event.</summary>
    public string InitialEpoch(string topic) => "";

    /// <summary>A candidate epoch: 16 lowercase hex chars (64 random bits), kept by Redis only for a new
    /// topic.</summary>
    private static string NewEpoch() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <inheritdoc />
    public async ValueTask<AppendResult> AppendAsync(
        string topic,
        IReadOnlyList<EventData> events,
        DateTimeOffset publishedAt,
        CancellationToken cancellationToken)
    {
        var token = _tokens.GetValue(events, static _ => Guid.NewGuid().ToString("N"));
        var log = Log ?? throw new BackendException("the Redis backend is not connected yet");
        var data = new byte[events.Count][];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = events[i].ToByteArray();
        }

        var started = _metrics.Start();
        try
        {
            var (first, epoch) = await log.AppendAsync(
                topic,
                data,
                publishedAt.ToUnixTimeMilliseconds(),
                ReplaySize,
                NewEpoch(),
                token)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
            return new AppendResult(epoch, first);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new BackendException($"Redis did not take the append to topic {topic}: {ex.Message}", ex);
        }
        finally
        {
            _metrics.Record(started, "append");
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(
        string topic,
        long first,
        long last,
        CancellationToken cancellationToken)
    {
        var started = _metrics.Start();
        var events = await Connected.RangeAsync(topic, first, last).WaitAsync(cancellationToken).ConfigureAwait(false);
        _metrics.Record(started, "read");
        return [.. events.Select(ToBackendEvent)];
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
        IReadOnlyCollection<string> topics,
        CancellationToken cancellationToken)
    {
        var started = _metrics.Start();
        var figures = await Connected.TopicFiguresAsync(topics).WaitAsync(cancellationToken).ConfigureAwait(false);
        _metrics.Record(started, "describe");
        var described = new Dictionary<string, BackendTopic>(StringComparer.Ordinal);
        foreach (var (name, (epoch, head, buffered)) in figures)
        {
            described[name] = new BackendTopic(epoch, head, head - buffered + 1);
        }

        return described;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken) =>
        await Connected.TopicsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);

    private RedisEventLog Connected => Log ?? throw new BackendException("the Redis backend is not connected yet");

    private RedisDurableStore Durables =>
        _durables ?? throw new BackendException("the Redis backend is not connected yet");

    /// <inheritdoc />
    public bool IsShared => true;

    /// <inheritdoc />
    public ValueTask SaveAsync(DurableSnapshot snapshot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return new(Guard(() => Durables.SaveAsync(snapshot), cancellationToken));
    }

    /// <inheritdoc />
    public ValueTask DeleteAsync(string key, string name, CancellationToken cancellationToken) =>
        new(Guard(() => Durables.DeleteAsync(key, name), cancellationToken));

    /// <inheritdoc />
    public async ValueTask<DurableSnapshot?> LoadAsync(string key, string name, CancellationToken cancellationToken)
    {
        DurableSnapshot? snapshot = null;
        await Guard(async () => snapshot = await Durables.LoadAsync(key, name).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return snapshot;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DurableSnapshot>> LoadAllAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<DurableSnapshot> all = [];
        await Guard(async () => all = await Durables.LoadAllAsync().ConfigureAwait(false), cancellationToken)
            .ConfigureAwait(false);
        return all;
    }

    /// <summary>Runs a durable-state call, its Redis failures as <see cref="BackendException"/>.</summary>
    private static async Task Guard(Func<Task> call, CancellationToken cancellationToken)
    {
        try
        {
            await call().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new BackendException($"Redis did not take the durable subscription's state: {ex.Message}", ex);
        }
    }

    /// <summary>Connects to Redis, loads every topic's recent events into <paramref name="listener"/>, and follows
    /// the fan-out channel from then on.</summary>
    /// <exception cref="BackendException">Redis cannot be reached (the message names the key).</exception>
    public async Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _listener = listener;
        var settings = _options;
        var options = ConfigurationOptions.Parse(settings.Connection);
        // Fail start-up when Redis cannot be reached at all; once connected, the client reconnects by itself.
        options.AbortOnConnectFail = true;
        try
        {
            _redis = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            throw new BackendException(
                "toast.grpc.broker.backend is redis but Redis at toast.grpc.broker.redis.connection "
                    + $"('{settings.Connection}') cannot be reached: {ex.Message}", ex);
        }

        _redis.ConnectionFailed += (_, e) => RedisBackendLog.ConnectionLost(_logger, e.FailureType, e.Exception);
        _redis.ConnectionRestored += (_, e) =>
        {
            RedisBackendLog.ConnectionRestored(_logger, e.ConnectionType);
            _work.Writer.TryWrite(new CatchUp(null));
            // The client re-subscribes to the fan-out channel on its own schedule: an event announced between this
            // catch-up and the re-subscription would wait for its topic's next event. A second catch-up a moment
            // later closes that window.
            _ = Task.Delay(SecondCatchUpDelay, _stop.Token)
                .ContinueWith(
                    _ => _work.Writer.TryWrite(new CatchUp(null)),
                    CancellationToken.None,
                    TaskContinuationOptions.OnlyOnRanToCompletion,
                    TaskScheduler.Default);
        };
        Log = new RedisEventLog(_redis, settings.KeyPrefix);
        _durables = new RedisDurableStore(_redis, settings.KeyPrefix);

        // The first catch-up is queued before the subscription, so announcements that arrive while it reads the
        // log are applied after it (and those it already applied are ignored as held).
        var loaded = new TaskCompletionSource<BackendLoad>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Writer.TryWrite(new CatchUp(loaded));
        _fanout = await _redis.GetSubscriber().SubscribeAsync(Log.FanoutChannel).ConfigureAwait(false);
        _fanout.OnMessage(message => _work.Writer.TryWrite(new Announcement((byte[])message.Message!)));
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        var load = await loaded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var endpoints = string.Join(",", options.EndPoints);
        RedisBackendLog.Started(_logger, NodeName, endpoints, settings.KeyPrefix, load.Topics, load.Events);
        return load;
    }

    /// <summary>Stops following the fan-out channel and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        // Idempotent: the host stops the backend, then its container disposes it.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

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

        _stop.Dispose();
        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }

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
            catch (Exception ex) when (ex is not OperationCanceledException
                || !cancellationToken.IsCancellationRequested)
            {
                // The loop must outlive any one failure: it is the only path from Redis to the local rings.
                RedisBackendLog.ApplyFailed(_logger, ex);
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
            RedisBackendLog.BadAnnouncement(_logger, message.Length);
            return;
        }

        switch (Apply(topic, epoch, shared, allowGap: false))
        {
            case ApplyOutcome.Gap:
                await FillAsync(topic, epoch, shared.Sequence).ConfigureAwait(false);
                break;
            case ApplyOutcome.EpochChanged:
                Reset(topic, epoch);
                if (Apply(topic, epoch, shared, allowGap: false) == ApplyOutcome.Gap)
                {
                    await FillAsync(topic, epoch, shared.Sequence).ConfigureAwait(false);
                }

                break;
        }
    }

    /// <summary>Brings every topic up to the shared log's head; returns (topics, events applied).</summary>
    private async Task<BackendLoad> CatchUpAsync()
    {
        var log = Log!;
        var names = new HashSet<string>(await log.TopicsAsync().ConfigureAwait(false), StringComparer.Ordinal);
        names.UnionWith(_listener!.TopicNames());
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
            var local = _listener!.GetTopicPosition(topic);
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

        return new BackendLoad(topics, events);
    }

    /// <summary>Applies the events after the local head up to <paramref name="upTo"/> (at most replay_size of them)
    /// from the log; numbers the log does not hold (trimmed) read as lost.</summary>
    private async Task<int> FillAsync(string topic, string epoch, long upTo)
    {
        var head = _listener!.GetTopicPosition(topic)?.Head ?? 0;
        var from = Math.Max(head + 1, upTo - ReplaySize + 1);
        var started = _metrics.Start();
        var events = await Log!.RangeAsync(topic, from, upTo).ConfigureAwait(false);
        _metrics.Record(started, "read");
        var applied = 0;
        foreach (var shared in events)
        {
            var outcome = Apply(topic, epoch, shared, allowGap: applied == 0);
            if (outcome == ApplyOutcome.EpochChanged)
            {
                // Redis was reset while this was read: the next announcement or catch-up sorts it out.
                break;
            }

            applied += outcome == ApplyOutcome.Applied ? 1 : 0;
        }

        RedisBackendLog.GapFilled(_logger, topic, applied, upTo);
        return applied;
    }

    private ApplyOutcome Apply(string topic, string epoch, SharedEvent shared, bool allowGap)
    {
        try
        {
            var one = ToBackendEvent(shared);
            return _listener!.Apply(topic, epoch, new ReadOnlySpan<BackendEvent>(in one), allowGap);
        }
        catch (BrokerLimitException ex)
        {
            // This gateway holds max_topics topics already: the topic is not served here.
            RedisBackendLog.NotApplied(_logger, topic, shared.Sequence, ex.Message);
            return ApplyOutcome.AlreadyHeld;
        }
    }

    private static BackendEvent ToBackendEvent(SharedEvent shared) =>
        new(
            shared.Sequence,
            EventData.Parser.ParseFrom(shared.Data),
            DateTimeOffset.FromUnixTimeMilliseconds(shared.PublishedAtMs));

    private void Reset(string topic, string epoch)
    {
        var closed = _listener!.Reset(topic, epoch);
        RedisBackendLog.EpochChanged(_logger, topic, epoch, closed);
    }

    private abstract record Work;

    private sealed record Announcement(byte[] Message) : Work;

    /// <summary>Catch up every topic; <paramref name="Done"/> (start-up's) gets the figures.</summary>
    private sealed record CatchUp(TaskCompletionSource<BackendLoad>? Done) : Work;
}
