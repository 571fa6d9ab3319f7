using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Broker.Tests;

// Shared helpers for the broker unit tests: a broker on a FakeTimeProvider with a capturing logger, event and
// client-message builders, and drain/filter helpers over what a connection would write.
//
// Assumptions these tests make about the broker (semantics.md, "everything the connection sends is read with
// TryRead, in order"):
// - Publish and HandleAsync enqueue what they cause before they return (a synchronous TryRead drain sees it).
// - Timers are created with the injected TimeProvider (TimeProvider.CreateTimer), so FakeTimeProvider.Advance runs
//   their callbacks synchronously before Advance returns (TestBroker.Advance steps 10 ms at a time, see there).
// - All setup happens at the start time, before the first Advance, so timer phases line up with it.

/// <summary>A broker on fake time with a capturing logger; disposes the connections it opened and the broker.</summary>
public sealed class TestBroker : IDisposable
{
    public static readonly DateTimeOffset StartTime = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<BrokerConnection> _connections = [];

    public TestBroker(
        Action<BrokerOptions>? configure = null,
        DateTimeOffset? start = null,
        Marie.Events.Broker.Storage.IEventBackend? backend = null,
        Marie.Events.Broker.Storage.IDurableStore? durables = null)
    {
        Options = new BrokerOptions();
        configure?.Invoke(Options);
        Time = new FakeTimeProvider(start ?? StartTime);
        Logs = new CapturingLoggerFactory();
        Broker = new GrpcEventBroker(Options, Time, Logs, backend, null, durables);
    }

    public BrokerOptions Options { get; }
    public FakeTimeProvider Time { get; }
    public CapturingLoggerFactory Logs { get; }
    public GrpcEventBroker Broker { get; }

    public BrokerStats Stats() => Broker.Stats();

    public string Epoch(string topic) => Broker.Stats().TopicStats[topic].Epoch;

    public BrokerConnection Connect(string? id = null)
    {
        var connection = Broker.Connect(id);
        _connections.Add(connection);
        return connection;
    }

    /// <summary>Connects with an access policy (the topics the connection may see).</summary>
    public BrokerConnection Connect(Access.ConnectionAccess access, string? id = null)
    {
        var connection = Broker.Connect(id, access);
        _connections.Add(connection);
        return connection;
    }

    /// <summary>Connects as the API key <paramref name="owner"/> (its dead letters are that key's).</summary>
    public BrokerConnection ConnectAs(string owner, string? id = null)
    {
        var connection = Broker.Connect(id, Access.ConnectionAccess.All, owner);
        _connections.Add(connection);
        return connection;
    }

    /// <summary>Connects and subscribes; the confirm (and any replay) is left in the connection for the test.</summary>
    public async Task<BrokerConnection> ConnectAndSubscribeAsync(SubscribeRequest request)
    {
        var connection = Connect();
        await connection.HandleAsync(Msg.Subscribe(request));
        return connection;
    }

    public Task<BrokerConnection> ConnectAndSubscribeAsync(string subscriptionId, params string[] topics)
        => ConnectAndSubscribeAsync(Msg.Sub(subscriptionId, topics));

    /// <summary>Subscribes a fresh connection with the request, publishes the event live, and tells whether the
    /// subscription received it.</summary>
    public async Task<bool> DeliversAsync(SubscribeRequest request, EventData evt)
    {
        var connection = await ConnectAndSubscribeAsync(request);
        Assert.Single(connection.All().Confirms());
        var result = Publish(evt);
        return connection.All().Events().Any(e => e.Event.Id == result.Id);
    }

    public PublishResult Publish(EventData evt) => Broker.Publish(evt);

    public PublishResult Publish(string topic, string name = Ev.DefaultName, string source = Ev.DefaultSource,
        string jobid = "", string? payloadJson = null)
        => Broker.Publish(Ev.Make(topic, name, source, jobid, payloadJson));

    public List<PublishResult> PublishMany(string topic, int count, string name = Ev.DefaultName)
    {
        var results = new List<PublishResult>(count);
        for (var i = 0; i < count; i++) results.Add(Publish(topic, name));
        return results;
    }

    /// <summary>Moves fake time forward in 10 ms steps, and after each step reads what every connection of this
    /// broker has ready into its inbox (<see cref="Drain.All"/> returns it): the connections behave as clients that
    /// read their stream continuously. (A connection does not queue a second heartbeat, nor a redelivery of an event
    /// whose previous send still waits, for a client that does not read.) FakeTimeProvider.Advance runs
    /// every timer callback that falls due with the clock already at the target time (one Advance of 11.9 s shows
    /// the 4 s and 8 s ticks the time 11.9 s), so the steps keep each tick seeing its own time (all timer
    /// periods in these tests are multiples of 10 ms and start at <see cref="StartTime"/>).</summary>
    public void Advance(TimeSpan delta)
    {
        var step = TimeSpan.FromMilliseconds(10);
        while (delta > TimeSpan.Zero)
        {
            var next = delta < step ? delta : step;
            Time.Advance(next);
            delta -= next;
            foreach (var connection in _connections) Drain.ReadIntoInbox(connection);
        }
    }

    public void AdvanceSeconds(double seconds) => Advance(TimeSpan.FromSeconds(seconds));

    public void Dispose()
    {
        foreach (var connection in _connections) connection.Dispose();
        Broker.Dispose();
    }
}

/// <summary>Event builders.</summary>
public static class Ev
{
    public const string DefaultName = "test.event";
    public const string DefaultSource = "gateway://test";

    public static EventData Make(string topic, string name = DefaultName, string source = DefaultSource,
        string jobid = "", string? payloadJson = null)
    {
        var evt = new EventData { ApiKey = topic, Event = name, Source = source, Jobid = jobid, Status = "INFO" };
        if (payloadJson is not null) evt.Payload = Payload(payloadJson);
        return evt;
    }

    public static Struct Payload(string json) => JsonParser.Default.Parse<Struct>(json);
}

/// <summary>Client message builders.</summary>
public static class Msg
{
    public static SubscribeRequest Sub(string subscriptionId, params string[] topics)
    {
        var request = new SubscribeRequest { SubscriptionId = subscriptionId };
        request.Topics.AddRange(topics);
        return request;
    }

    public static ClientMessage Subscribe(SubscribeRequest request) => new() { Subscribe = request };

    public static ClientMessage Subscribe(string subscriptionId, params string[] topics)
        => Subscribe(Sub(subscriptionId, topics));

    public static ClientMessage Unsubscribe(string subscriptionId)
        => new() { Unsubscribe = new UnsubscribeRequest { SubscriptionId = subscriptionId } };

    public static ClientMessage Ack(string subscriptionId, params string[] ackIds)
    {
        var individual = new IndividualAck();
        individual.AckIds.AddRange(ackIds);
        return new() { Ack = new AckMessage { SubscriptionId = subscriptionId, Individual = individual } };
    }

    public static ClientMessage Nack(long delayMs, string reason, params string[] ackIds)
    {
        var nack = new Nack { DelayMs = delayMs, Reason = reason };
        nack.AckIds.AddRange(ackIds);
        return new() { Ack = new AckMessage { Nack = nack } };
    }

    public static ClientMessage Terminate(string reason, params string[] ackIds)
    {
        var terminate = new Terminate { Reason = reason };
        terminate.AckIds.AddRange(ackIds);
        return new() { Ack = new AckMessage { Terminate = terminate } };
    }

    public static ClientMessage Extend(long extendMs, params string[] ackIds)
    {
        var extend = new Extend { ExtendMs = extendMs };
        extend.AckIds.AddRange(ackIds);
        return new() { Ack = new AckMessage { Extend = extend } };
    }

    public static ClientMessage AckUpTo(string subscriptionId, string topic, long upToSequenceNum)
        => new()
        {
            Ack = new AckMessage
            {
                SubscriptionId = subscriptionId,
                Cumulative = new CumulativeAck { Topic = topic, UpToSequenceNum = upToSequenceNum },
            },
        };

    public static ClientMessage FilterUpdate(string subscriptionId, FilterConfig filter)
        => new() { FilterUpdate = new FilterUpdate { SubscriptionId = subscriptionId, Filter = filter } };

    public static ClientMessage Heartbeat(long timestamp = 0) =>
        new() { Heartbeat = new ClientHeartbeat { Timestamp = timestamp } };

    public static FilterConfig Filter(string[]? include = null, string[]? exclude = null, string[]? jobids = null,
        IDictionary<string, string>? metadata = null)
    {
        var filter = new FilterConfig();
        if (include is not null) filter.IncludeSources.AddRange(include);
        if (exclude is not null) filter.ExcludeSources.AddRange(exclude);
        if (jobids is not null) filter.Jobids.AddRange(jobids);
        if (metadata is not null) filter.MetadataMatch.Add(metadata);
        return filter;
    }
}

/// <summary>Reading what a connection would write, and picking message kinds out of it.</summary>
public static class Drain
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<BrokerConnection, List<ServerMessage>>
        Inboxes = new();

    /// <summary>Takes every message the connection has written since the last call (read during
    /// <see cref="TestBroker.Advance"/>) or has ready now, in order.</summary>
    public static List<ServerMessage> All(this BrokerConnection connection)
    {
        ReadIntoInbox(connection);
        var inbox = Inboxes.GetOrCreateValue(connection);
        var messages = new List<ServerMessage>(inbox);
        inbox.Clear();
        return messages;
    }

    /// <summary>Reads what the connection has ready into its inbox, as a client reading its stream would.</summary>
    public static void ReadIntoInbox(BrokerConnection connection)
    {
        var inbox = Inboxes.GetOrCreateValue(connection);
        while (connection.TryRead(out var message)) inbox.Add(message);
    }

    /// <summary>Sends a message, then takes everything the connection has ready.</summary>
    public static async Task<List<ServerMessage>> SendAndDrainAsync(
        this BrokerConnection connection,
        ClientMessage message)
    {
        await connection.HandleAsync(message);
        return connection.All();
    }

    public static List<EventEnvelope> Events(this IEnumerable<ServerMessage> messages)
        => messages.Where(m => m.MessageCase == ServerMessage.MessageOneofCase.Event).Select(m => m.Event).ToList();

    public static List<ErrorMessage> Errors(this IEnumerable<ServerMessage> messages)
        => messages.Where(m => m.MessageCase == ServerMessage.MessageOneofCase.Error).Select(m => m.Error).ToList();

    public static List<SubscriptionConfirm> Confirms(this IEnumerable<ServerMessage> messages)
        => messages.Where(m => m.MessageCase == ServerMessage.MessageOneofCase.SubscriptionConfirm)
            .Select(m => m.SubscriptionConfirm).ToList();

    public static List<ServerHeartbeat> Heartbeats(this IEnumerable<ServerMessage> messages)
        => messages.Where(m => m.MessageCase == ServerMessage.MessageOneofCase.Heartbeat)
            .Select(m => m.Heartbeat)
            .ToList();

    public static List<BackpressureSignal> Backpressure(this IEnumerable<ServerMessage> messages)
        => messages.Where(m => m.MessageCase == ServerMessage.MessageOneofCase.Backpressure)
            .Select(m => m.Backpressure)
            .ToList();

    /// <summary>Messages other than heartbeats (which timers add whenever time moves).</summary>
    public static List<ServerMessage> WithoutHeartbeats(this IEnumerable<ServerMessage> messages)
        => messages.Where(m => m.MessageCase != ServerMessage.MessageOneofCase.Heartbeat).ToList();

    public static long[] Seqs(this IEnumerable<EventEnvelope> events) => events.Select(e => e.SequenceNum).ToArray();

    public static long[] Seqs(this IEnumerable<EventEnvelope> events, string topic)
        => events.Where(e => e.Event.ApiKey == topic).Select(e => e.SequenceNum).ToArray();

    public static long[] Range(long first, long last) =>
        Enumerable.Range((int)first, (int)(last - first + 1)).Select(i => (long)i).ToArray();

    /// <summary>Index of the first message matching the predicate, or -1.</summary>
    public static int IndexOf(this List<ServerMessage> messages, Func<ServerMessage, bool> predicate)
        => messages.FindIndex(m => predicate(m));
}

/// <summary>One captured log entry.</summary>
public sealed record LogEntry(string Category, LogLevel Level, string Message);

/// <summary>A logger factory that records every entry of every category.</summary>
public sealed class CapturingLoggerFactory : ILoggerFactory
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => _entries.ToArray();

    public IEnumerable<LogEntry> AtLevel(LogLevel level) => Entries.Where(e => e.Level == level);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class Logger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
            => entries.Enqueue(new LogEntry(category, logLevel, formatter(state, exception)));
    }
}

/// <summary>Publishing as the gateway does (after its one validation: id and timestamp filled), for tests on the
/// memory backend, whose appends complete before they return.</summary>
public static class BrokerPublishing
{
    public static PublishResult Publish(this GrpcEventBroker broker, EventData evt)
    {
        if (evt.Id.Length == 0) evt.Id = Guid.NewGuid().ToString("N");
        if (evt.Timestamp == 0) evt.Timestamp = broker.Time.GetUtcNow().ToUnixTimeSeconds();
        var append = broker.PublishAsync(evt.ApiKey, [evt]).AsTask();
        Assert.True(append.IsCompleted, "an append to the memory backend completes before it returns");
        var result = append.GetAwaiter().GetResult();
        return new PublishResult(evt.Id, evt.ApiKey, result.FirstSequence);
    }
}

/// <summary>What a connection has ready, as message objects (the stream writer reads frames instead).</summary>
public static class ConnectionReading
{
    public static bool TryRead(
        this BrokerConnection connection,
        [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out ServerMessage message)
    {
        var frame = new OutboundFrame();
        if (connection.TryReadFrame(frame))
        {
            message = frame.ToMessage();
            return true;
        }

        message = null;
        return false;
    }
}
