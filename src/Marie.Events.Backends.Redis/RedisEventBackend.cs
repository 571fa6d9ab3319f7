using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Threading.Channels;
using Google.Protobuf;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>
/// Cluster mode (<c>toast.grpc.broker.backend: redis</c>): the event log shared by every gateway in Redis (one
/// server, a primary with replicas and Sentinel, or a Redis Cluster; <see cref="RedisEventLog"/>). An append is one
/// script that numbers, stores and announces a batch; up to <c>pipeline_depth</c> appends of a topic are in flight
/// at once, each fenced on the one before it so a failed append is never overtaken. With <c>ack_replicas</c> the
/// producer is answered, and the batch announced, only once WAIT confirmed that many replicas have it. Each topic's
/// batches are announced on its shard channel; one loop applies announcements to the broker
/// (<see cref="IEventBackendListener"/>) a batch at a time in the order Redis sent them. A gap (announcements missed
/// while the subscriber connection was down) is filled from the log before the batch that revealed it; after a
/// reconnect every topic is caught up.
/// </summary>
public sealed partial class RedisEventBackend : IEventBackend, IDurableStore, IDurableLease
{
    /// <summary>The backend's configured name.</summary>
    public const string BackendName = "redis";

    /// <summary>When the further catch-ups after a reconnect run, after the first one at once. The client library
    /// re-subscribes on its own schedule (within milliseconds on a healthy network, later after a Sentinel
    /// failover, where it must first learn the new primary), and with <c>ack_replicas</c> catch-ups read a replica,
    /// which right after a failover may still be syncing: an event announced in such a window would otherwise wait
    /// for its topic's next event. Doubling up to 16 s covers a failover's usual span (Sentinel's down-after plus
    /// a replica's sync) for five extra reads of the topics' positions.</summary>
    private static readonly TimeSpan[] LaterCatchUps =
    [
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8),
        TimeSpan.FromSeconds(16),
    ];

    /// <summary>Work for the apply loop, which runs one item at a time. Unbounded: announcements arrive at the rate
    /// Redis accepts events, and the loop only copies them into memory rings.</summary>
    private readonly Channel<Work> _work = Channel.CreateUnbounded<Work>(
        new UnboundedChannelOptions { SingleReader = true });

    /// <summary>One token per appended batch, the same for each of its attempts (the toast handler retries the
    /// same list).</summary>
    private readonly ConditionalWeakTable<IReadOnlyList<EventData>, StrongBox<long>> _tokens = [];

    /// <summary>This backend's name as a publisher in Redis (64 random bits): its append results for a topic are
    /// one hash, <c>P{topic}:pub:{publisher}</c>, whatever the node name (two gateways given one name by mistake
    /// still never read each other's results).</summary>
    private readonly string _publisher = NewEpoch();

    /// <summary>Each topic's last append made here (what the next one is fenced on) and registration.</summary>
    private readonly ConcurrentDictionary<string, TopicPipe> _pipes = new(StringComparer.Ordinal);

    private readonly CancellationTokenSource _stop = new();
    private readonly RedisBackendOptions _options;
    private readonly ILogger _logger;
    private IEventBackendListener? _listener;
    private ConnectionMultiplexer? _redis;
    private RedisDurableStore? _durables;
    private RedisDeadLetterStore? _deadLetters;
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

    /// <inheritdoc />
    public int MaxAppendsInFlight => _options.PipelineDepth;

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
        var log = Log ?? throw new BackendException("the Redis backend is not connected yet");
        var retry = _tokens.TryGetValue(events, out var token);
        var chunks = RedisAnnouncement.Encode(events, RedisEventLog.EventsPerEntry);
        var started = _metrics.Start();
        var pipe = _pipes.GetOrAdd(topic, static _ => new TopicPipe());
        var ms = publishedAt.ToUnixTimeMilliseconds();
        Task<AppendResult> completion;
        lock (pipe.Gate)
        {
            if (!retry)
            {
                // Tokens of a topic count up in the order the appends are issued (the script drops the result
                // PublishTokensKept before the newest).
                token = new StrongBox<long>(++pipe.LastToken);
                _tokens.AddOrUpdate(events, token);
            }

            // A first attempt is fenced on the append made before it unless that one is known filed (and, with
            // ack_replicas, confirmed); a retry is made only once every earlier append settled, so it is not.
            long? fence = !retry && pipe.LastAppend is { IsCompletedSuccessfully: false } ? pipe.LastToken - 1 : null;
            if (pipe.Registration is null or { IsFaulted: true })
            {
                pipe.Registration = RegisterAsync(log, topic);
            }

            var script = IssueAppend(log, topic, chunks, ms, token!.Value, fence);
            completion = CompleteAsync(log, topic, script, pipe.Registration, pipe.LastAppend, chunks, ms);
            if (token.Value == pipe.LastToken)
            {
                // The newest append (or its retry) is what the next one is fenced on.
                pipe.LastAppend = completion;
            }
        }

        try
        {
            return await completion.WaitAsync(cancellationToken).ConfigureAwait(false);
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

    private Task<RedisResult> IssueAppend(
        RedisEventLog log,
        string topic,
        EventChunk[] chunks,
        long ms,
        long token,
        long? fence)
    {
        try
        {
            return log.IssueAppend(
                topic, chunks, ms, ReplaySize, NewEpoch(), _publisher, token, fence, _options.AckReplicas == 0);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return Task.FromException<RedisResult>(ex);
        }
    }

    /// <summary>Registers the topic (once per gateway, before its first append is answered) and follows its
    /// channel here.</summary>
    private async Task RegisterAsync(RedisEventLog log, string topic)
    {
        _work.Writer.TryWrite(new Follow(topic));
        await log.RegisterAsync(topic).ConfigureAwait(false);
    }

    /// <summary>The rest of an append once its script is issued: its result, the topic's registration and, with
    /// ack_replicas, WAIT and the announcement (after the announcement of the append before it, so a topic's
    /// announcements keep their order).</summary>
    private async Task<AppendResult> CompleteAsync(
        RedisEventLog log,
        string topic,
        Task<RedisResult> script,
        Task registration,
        Task? previous,
        EventChunk[] chunks,
        long ms)
    {
        var (first, epoch) = RedisEventLog.AppendResultOf(await script.ConfigureAwait(false));
        await registration.ConfigureAwait(false);
        var replicas = _options.AckReplicas;
        if (replicas > 0)
        {
            if (previous is not null)
            {
                await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            var confirmed = await log.WaitForReplicasAsync(topic, replicas, _options.AckTimeoutMs)
                .ConfigureAwait(false);
            if (confirmed < replicas)
            {
                RedisBackendLog.ReplicasShort(_logger, topic, first, confirmed, replicas);
                throw new RedisTimeoutException(
                    $"{confirmed} of {replicas} replicas confirmed the append within {_options.AckTimeoutMs} ms "
                        + "(toast.grpc.broker.redis.ack_replicas)",
                    CommandStatus.Sent);
            }

            await log.AnnounceAsync(topic, RedisAnnouncement.Build(first, epoch, ms, topic, chunks))
                .ConfigureAwait(false);
        }

        return new AppendResult(epoch, first);
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

    /// <summary>Stops following the channels and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        // Idempotent: the host stops the backend, then its container disposes it.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
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

    private static BackendEvent ToBackendEvent(SharedEvent shared) =>
        new(shared.Sequence, shared.Data, DateTimeOffset.FromUnixTimeMilliseconds(shared.PublishedAtMs));

    /// <summary>A topic's publishing state on this gateway (under <see cref="Gate"/>).</summary>
    private sealed class TopicPipe
    {
        public Lock Gate { get; } = new();

        /// <summary>The token of the newest first attempt issued (tokens count up from 1).</summary>
        public long LastToken { get; set; }

        public Task<AppendResult>? LastAppend { get; set; }

        public Task? Registration { get; set; }
    }
}
