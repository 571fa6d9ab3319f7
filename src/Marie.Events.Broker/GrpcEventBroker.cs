using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using Marie.Events.Broker.Access;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Durables;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Storage;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Broker.Telemetry;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Marie.Events.Broker;

/// <summary>
/// The broker: a replay ring per topic, subscriptions multiplexed on connections, per-subscription in-flight caps,
/// individual and cumulative acks, redelivery after an ack timeout, server-side filters, heartbeats and
/// backpressure. Publishing locks only the topic published to; subscribing and unsubscribing also take the
/// topology lock, which the publish and delivery paths never touch (except to create a topic).
/// </summary>
public sealed partial class GrpcEventBroker : IDisposable
{
    private readonly ConcurrentDictionary<string, BrokerTopic> _topics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<BrokerConnection, byte> _connections = new();
    private readonly Lock _topology = new();
    private Subscription[] _wildcard = [];
    private long _nextConnectionNumber;

    /// <summary>Creates a broker.</summary>
    /// <param name="options">Settings; validated here.</param>
    /// <param name="timeProvider">Clock and timers (a fake one in tests); the system clock by default.</param>
    /// <param name="loggerFactory">Where log lines go; nowhere by default.</param>
    /// <exception cref="ArgumentException">An option is out of range (the message names its key).</exception>
    /// <param name="backend">Where events are kept; the memory backend (the rings themselves) by default.</param>
    public GrpcEventBroker(
        BrokerOptions options,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        IEventBackend? backend = null)
        : this(options, timeProvider, loggerFactory, backend, null)
    {
    }

    /// <summary>Creates a broker with a dead-letter store of the caller's.</summary>
    /// <param name="options">Settings; validated here.</param>
    /// <param name="timeProvider">Clock and timers (a fake one in tests); the system clock by default.</param>
    /// <param name="loggerFactory">Where log lines go; nowhere by default.</param>
    /// <param name="backend">Where events are kept; the memory backend (the rings themselves) by default.</param>
    /// <param name="deadLetters">Where dead letters are kept; in memory (bounded by <c>dead_letters.*</c>) by
    /// default.</param>
    /// <exception cref="ArgumentException">An option is out of range (the message names its key).</exception>
    public GrpcEventBroker(
        BrokerOptions options,
        TimeProvider? timeProvider,
        ILoggerFactory? loggerFactory,
        IEventBackend? backend,
        IDeadLetterStore? deadLetters)
        : this(options, timeProvider, loggerFactory, backend, deadLetters, null)
    {
    }

    /// <summary>Creates a broker with a dead-letter store and a durable-state store of the caller's.</summary>
    /// <param name="options">Settings; validated here.</param>
    /// <param name="timeProvider">Clock and timers (a fake one in tests); the system clock by default.</param>
    /// <param name="loggerFactory">Where log lines go; nowhere by default.</param>
    /// <param name="backend">Where events are kept; the memory backend (the rings themselves) by default.</param>
    /// <param name="deadLetters">Where dead letters are kept; by default in memory, written behind to the backend
    /// when it implements <see cref="IDeadLetterPersistence"/> (file, Redis).</param>
    /// <param name="durables">Where durable subscriptions' state is saved; by default the backend, when it
    /// implements <see cref="IDurableStore"/> (file, Redis), else nowhere (memory: the state lives in the broker).
    /// </param>
    /// <exception cref="ArgumentException">An option is out of range (the message names its key).</exception>
    public GrpcEventBroker(
        BrokerOptions options,
        TimeProvider? timeProvider,
        ILoggerFactory? loggerFactory,
        IEventBackend? backend,
        IDeadLetterStore? deadLetters,
        IDurableStore? durables)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } problem)
        {
            throw new ArgumentException($"{problem.Key} {problem.Message}", nameof(options));
        }

        Options = options;
        Settings = new Settings(options);
        Time = timeProvider ?? TimeProvider.System;
        Heartbeats = new HeartbeatScheduler(Time, Settings.HeartbeatInterval);
        Log = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Marie.Events.Broker");
        Backend = backend ?? new MemoryEventBackend(this);
        DefaultPolicy = RedeliveryPolicy.Default(Settings, Time);
        var persistence = deadLetters is null ? Backend as IDeadLetterPersistence : null;
        var shared = persistence is { IsShared: true }
            ? new SharedDeadLetterView(
                persistence as ISharedDeadLetterPersistence ?? throw new ArgumentException(
                    "a shared dead-letter persistence must implement ISharedDeadLetterPersistence", nameof(backend)),
                options.DeadLetters, Time, Log)
            : null;
        DeadLetterOffice = new DeadLetterOffice(
            this,
            deadLetters ?? new MemoryDeadLetterStore(options.DeadLetters, Time,
                persistence is not null && shared is null ? new DeadLetterWriter(persistence, Log, Time) : null),
            shared);
        Durables = new DurableRegistry(this, durables ?? Backend as IDurableStore);
    }

    /// <summary>The durable subscriptions, per key and name.</summary>
    internal DurableRegistry Durables { get; }

    /// <summary>The redelivery policy of a subscription that asks for none of its own.</summary>
    internal RedeliveryPolicy DefaultPolicy { get; }

    internal DeadLetterOffice DeadLetterOffice { get; }

    /// <summary>Where the broker keeps its events.</summary>
    public IEventBackend Backend { get; }

    /// <summary>The settings the broker was created with.</summary>
    public BrokerOptions Options { get; }

    internal Settings Settings { get; }

    internal TimeProvider Time { get; }

    internal ILogger Log { get; }

    internal BrokerCounters Counters { get; } = new();

    /// <summary>The metric topic label of each topic, and its delivery counters.</summary>
    internal TopicLabels TopicLabels { get; } = new();

    /// <summary>The broker's instruments, once <see cref="EnableMetrics"/> was called; null before.</summary>
    internal BrokerMetrics? Metrics { get; private set; }

    /// <summary>
    /// Publishes the broker's instruments (docs/metrics.md) on the meter <see cref="MarieTelemetry.Name"/> of
    /// <paramref name="meterFactory"/>. Call once, before <see cref="StartAsync"/>: topics get their metric label when
    /// they are created, the first <paramref name="maxTopicLabels"/> their own name, the rest <c>_other</c>.
    /// Without it the broker records nothing but its stats counters. The delivery and ack latency histograms record
    /// one event in <paramref name="latencySampleEvery"/> (1: every event).
    /// </summary>
    /// <exception cref="InvalidOperationException">Called twice, or after a topic was created.</exception>
    public void EnableMetrics(
        IMeterFactory meterFactory,
        int maxTopicLabels = MarieTelemetry.DefaultMaxTopicLabels,
        int latencySampleEvery = MarieTelemetry.DefaultLatencySampleEvery)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentOutOfRangeException.ThrowIfNegative(maxTopicLabels);
        ArgumentOutOfRangeException.ThrowIfLessThan(latencySampleEvery, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(latencySampleEvery, MarieTelemetry.MaxLatencySampleEvery);
        lock (_topology)
        {
            if (Metrics is not null || !_topics.IsEmpty)
            {
                throw new InvalidOperationException("EnableMetrics is called once, before any topic exists.");
            }

            TopicLabels.Max = maxTopicLabels;
            Metrics = new BrokerMetrics(this, meterFactory.Create(MarieTelemetry.Name), latencySampleEvery);
        }
    }

    /// <summary>Every connection's heartbeats, on one timer.</summary>
    internal HeartbeatScheduler Heartbeats { get; }

    /// <summary>
    /// Files events of one topic (<paramref name="topic"/>, in order) with the backend, which numbers them and hands
    /// them back to <see cref="Apply"/> to be offered to the matching subscriptions. The events must already be
    /// validated and normalised (id and timestamp set, topic in <c>api_key</c>): the gateway's publish path does it
    /// once. The broker takes ownership of them. A new topic is created here, within <c>max_topics</c>.
    /// </summary>
    /// <exception cref="BrokerLimitException">A new topic over <c>max_topics</c>.</exception>
    /// <exception cref="Storage.BackendException">The backend failed; nothing was acknowledged.</exception>
    public ValueTask<AppendResult> PublishAsync(
        string topic,
        IReadOnlyList<EventData> events,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentOutOfRangeException.ThrowIfZero(events.Count);
        GetOrCreateTopic(topic);
        return Backend.AppendAsync(topic, events, Time.GetUtcNow(), cancellationToken);
    }

    /// <summary>Opens a connection that sees every topic: one per <c>StreamEvents</c> stream.</summary>
    /// <param name="connectionId">The id logged for it; a new one when null.</param>
    public BrokerConnection Connect(string? connectionId = null) => Connect(connectionId, ConnectionAccess.All);

    /// <summary>Opens a connection that sees only the topics <paramref name="access"/> allows.</summary>
    /// <param name="connectionId">The id logged for it; a new one when null.</param>
    /// <param name="access">The topics it may see.</param>
    public BrokerConnection Connect(string? connectionId, ConnectionAccess access) => Connect(connectionId, access, "");

    /// <summary>Opens a connection of the key <paramref name="owner"/> that sees only the topics
    /// <paramref name="access"/> allows. Its dead letters are filed under <paramref name="owner"/>.</summary>
    /// <param name="connectionId">The id logged for it; a new one when null.</param>
    /// <param name="access">The topics it may see; change them later with
    /// <see cref="BrokerConnection.UpdateAccess"/>.</param>
    /// <param name="owner">The API key name the connection belongs to ("" when keys are not used).</param>
    public BrokerConnection Connect(string? connectionId, ConnectionAccess access, string owner)
    {
        ArgumentNullException.ThrowIfNull(access);
        ArgumentNullException.ThrowIfNull(owner);
        var number = Interlocked.Increment(ref _nextConnectionNumber);
        var connection = new BrokerConnection(
            this,
            connectionId ?? number.ToString(CultureInfo.InvariantCulture),
            access,
            owner);
        _connections.TryAdd(connection, 0);
        Counters.ConnectionOpened();
        return connection;
    }

    internal void ConnectionClosed(BrokerConnection connection)
    {
        if (_connections.TryRemove(connection, out _))
        {
            Counters.ConnectionClosed();
        }
    }

    /// <summary>A snapshot of the broker's figures (the fields of Marie-AI's <c>stats()</c>, plus extras).</summary>
    public BrokerStats Stats() => Stats(ConnectionAccess.All);

    /// <summary>A snapshot of the broker's figures, <c>topics</c> and <c>topic_stats</c> limited to the topics
    /// <paramref name="access"/> may see (the other figures are broker-wide).</summary>
    public BrokerStats Stats(ConnectionAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        var topicStats = new Dictionary<string, TopicStats>(StringComparer.Ordinal);
        foreach (var (name, topic) in _topics)
        {
            if (access.CanSee(name))
            {
                topicStats[name] = new TopicStats(topic.Log.Head, topic.Log.Count, topic.Log.Epoch);
            }
        }

        var queued = 0L;
        foreach (var connection in _connections.Keys)
        {
            queued += connection.QueuedReplies;
        }

        return new BrokerStats
        {
            Connections = Counters.Connections,
            Subscriptions = Counters.Subscriptions,
            Topics = topicStats.Count,
            InFlightEvents = Counters.InFlight,
            TopicStats = topicStats,
            EventsPublished = Counters.Published,
            EventsDelivered = Counters.Delivered,
            EventsRedelivered = Counters.Redelivered,
            EventsDropped = Counters.DroppedCount,
            EventsLost = Counters.Lost,
            BackpressureSignals = Counters.BackpressureSignals,
            EventsAcked = Counters.AckedCount,
            QueuedReplies = queued,
        };
    }

    /// <summary>
    /// The unary replay: the events still in the ring with sequence &gt; <c>from_sequence_num</c>, at most
    /// <c>max_events</c> (0: <see cref="BrokerOptions.DefaultReplayMaxEvents"/>), as envelopes with an empty ack id
    /// and delivery attempt 0. <c>has_more</c> is true only when more events follow the last one returned. An unknown
    /// topic answers like an empty one.
    /// </summary>
    /// <exception cref="ArgumentException">Empty topic, or a negative number.</exception>
    /// <exception cref="BrokerLimitException"><c>max_events</c> over <c>max_replay_events</c>.</exception>
    public ReplayResponse GetReplayBuffer(ReplayRequest request) => GetReplayBuffer(request, ConnectionAccess.All);

    /// <summary>The unary replay for a caller that sees only the topics <paramref name="access"/> allows.</summary>
    /// <exception cref="ArgumentException">Empty topic, or a negative number.</exception>
    /// <exception cref="TopicAccessDeniedException">A topic the caller may not see, whether it
    /// exists or not.</exception>
    /// <exception cref="BrokerLimitException"><c>max_events</c> over <c>max_replay_events</c>.</exception>
    public ReplayResponse GetReplayBuffer(ReplayRequest request, ConnectionAccess access)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(access);
        TopicReplay.Check(request, Settings.Limits);
        CheckTopicName(request.Topic);
        if (!access.CanSee(request.Topic))
        {
            throw TopicAccessDeniedException.For(request.Topic);
        }

        if (!_topics.TryGetValue(request.Topic, out var topic))
        {
            return new ReplayResponse();
        }

        var max = request.MaxEvents == 0 ? Settings.DefaultReplayMaxEvents : request.MaxEvents;
        return TopicReplay.Read(topic.Log, request.FromSequenceNum, max);
    }

    /// <summary>The heads and epochs of the named topics that exist.</summary>
    internal bool TryGetTopic(string name, out BrokerTopic? topic) => _topics.TryGetValue(name, out topic);

    internal ICollection<BrokerTopic> AllTopics => _topics.Values;

    internal BrokerTopic GetOrCreateTopic(string name, string? epoch = null)
    {
        if (_topics.TryGetValue(name, out var topic))
        {
            return topic;
        }

        lock (_topology)
        {
            return GetOrCreateTopicLocked(name, epoch);
        }
    }

    /// <summary>Creates a topic and attaches every wildcard subscription to it, live from its start.
    /// Caller holds the topology lock.</summary>
    /// <param name="name">The topic.</param>
    /// <param name="epoch">Its epoch (the backend's); null = the backend's
    /// <see cref="IEventBackend.InitialEpoch"/>.</param>
    private BrokerTopic GetOrCreateTopicLocked(string name, string? epoch = null)
    {
        if (_topics.TryGetValue(name, out var topic))
        {
            return topic;
        }

        CheckRoomForTopics(1);
        topic = new BrokerTopic(
            new MemoryTopicLog(name, Settings.ReplaySize, epoch ?? Backend.InitialEpoch(name)),
            TopicLabels.For(name));
        lock (topic.Gate)
        {
            foreach (var subscription in _wildcard)
            {
                lock (subscription.Gate)
                {
                    // "*" is every topic the subscription's connection may see, no more.
                    if (!subscription.Closed && subscription.Connection.Access.CanSee(name))
                    {
                        var position = subscription.AddTopic(topic, 0);
                        position.Lagging = false;
                        topic.Attach(position);
                    }
                }
            }
        }

        _topics[name] = topic;
        Log.TopicCreated(name, topic.Log.Epoch);
        return topic;
    }

    /// <summary>A topic name a client gave must fit <c>max_string_length</c>.</summary>
    private void CheckTopicName(string topic)
    {
        var max = Settings.Limits.MaxStringLength;
        if (topic.Length > max)
        {
            throw BrokerLimitException.Create(LimitNames.MaxStringLength, max, "the topic name is too long");
        }
    }

    /// <summary>Refuses, before any is created, topics that would take the broker over <c>max_topics</c>.
    /// Caller holds the topology lock.</summary>
    private void CheckNewTopics(IReadOnlyList<string> names)
    {
        var missing = names.Count(n => !_topics.ContainsKey(n));
        if (missing > 0)
        {
            CheckRoomForTopics(missing);
        }
    }

    /// <summary>
    /// The one place the <c>max_topics</c> refusal is built: <paramref name="count"/> more topics must fit.
    /// </summary>
    private void CheckRoomForTopics(int count)
    {
        var max = Settings.Limits.MaxTopics;
        if (_topics.Count + count > max)
        {
            throw BrokerLimitException.Create(LimitNames.MaxTopics, max, "the broker holds as many topics as it may");
        }
    }

    /// <summary>Stops every connection's timers and releases their state.</summary>
    public void Dispose()
    {
        Durables.Dispose();
        DeadLetterOffice.Dispose();
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }
    }
}
