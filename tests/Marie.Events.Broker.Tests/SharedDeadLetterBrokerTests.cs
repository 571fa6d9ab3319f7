using Marie.Events.Broker.Connections;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using DeadLetter = Marie.Events.Broker.DeadLetters.DeadLetter;

namespace Marie.Events.Broker.Tests;

/// <summary>Two brokers (two gateways) on one shared dead-letter store (a fake of Redis): each lists what the store
/// holds, a replay claims each letter before it sends it, and a letter claimed but no longer deliverable stays a
/// dead letter. Events are in each broker's own memory rings; only the dead letters are shared.</summary>
public sealed class SharedDeadLetterBrokerTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly FakeSharedDeadLetterStore _store = new();
    private readonly List<TestBroker> _brokers = [];

    private async Task<TestBroker> StartAsync()
    {
        var t = new TestBroker(o => o.AckTimeoutSeconds = 30, backend: new SharedDeadLetterBackend(_store));
        _brokers.Add(t);
        await t.Broker.StartAsync();
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _brokers)
        {
            t.Dispose();
        }
    }

    /// <summary>Subscribes <c>s1</c> to topic <c>a</c>, publishes one event and terminates it; returns the
    /// connection once the dead letter is in the store.</summary>
    private static async Task<BrokerConnection> FileOneAsync(TestBroker t)
    {
        var connection = t.ConnectAs("k1");
        await connection.HandleAsync(Msg.Subscribe("s1", "a"));
        t.Publish("a");
        var ackId = Assert.Single(connection.All().Events()).AckId;
        await connection.HandleAsync(Msg.Terminate("bad", ackId));
        using var cts = new CancellationTokenSource(Timeout);
        await t.Broker.FlushDeadLettersAsync(cts.Token);
        return connection;
    }

    [Fact]
    public async Task ListDeadLettersAsync_FiledOnOneBroker_ListedAndCountedByTheOther()
    {
        var a = await StartAsync();
        var b = await StartAsync();
        await FileOneAsync(a);

        var page = await b.Broker.ListDeadLettersAsync("k1", DeadLetterQuery.All, null, 10);
        var stats = await b.Broker.DeadLetterStatsAsync();

        Assert.Equal("a", Assert.Single(page.Items).Topic);
        Assert.Equal(1, stats.Depth);
        Assert.Throws<InvalidOperationException>(() => b.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10));
    }

    [Fact]
    public async Task ReplayDeadLettersAsync_ClaimedByAnotherGatewayFirst_NotFoundAndNothingSent()
    {
        var a = await StartAsync();
        var connection = await FileOneAsync(a);
        connection.All();
        // Another gateway purges it between this replay's list and its claim.
        _store.BeforeClaim = BeforeClaimOnce(async (key, ids) =>
            await _store.ClaimAsync(key, ids, CancellationToken.None));

        var result = await a.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);

        Assert.Equal(1, result.Matched);
        Assert.Equal(0, result.Replayed);
        Assert.Equal(DeadLetterOffice.NotFound, Assert.Single(result.Failures).Code);
        Assert.Empty(connection.All().Events());
        Assert.Contains(a.Logs.Entries,
            e => e.Message.Contains("replayed or purged it first", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ReplayDeadLettersAsync_ClaimedThenSubscriptionClosed_FiledAgainNotSent()
    {
        var a = await StartAsync();
        var connection = await FileOneAsync(a);
        connection.All();
        _store.BeforeClaim = BeforeClaimOnce(async (_, _) =>
            await connection.HandleAsync(Msg.Unsubscribe("s1")));

        var result = await a.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);
        using var cts = new CancellationTokenSource(Timeout);
        await a.Broker.FlushDeadLettersAsync(cts.Token);
        var left = await a.Broker.ListDeadLettersAsync("k1", DeadLetterQuery.All, null, 10);

        Assert.Equal(0, result.Replayed);
        Assert.Equal(DeadLetterReplayFailure.SubscriptionGone, Assert.Single(result.Failures).Code);
        Assert.Single(left.Items);
        Assert.Empty(connection.All().Events());
    }

    [Fact]
    public async Task ReplayDeadLettersAsync_SubscriptionNotOnThisGateway_NotClaimedSoItsGatewayReplaysIt()
    {
        var a = await StartAsync();
        var b = await StartAsync();
        var connection = await FileOneAsync(a);
        connection.All();

        var onB = await b.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);
        var claimsByB = _store.Claims;
        var onA = await a.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);
        var onBAgain = await b.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: true, 0);

        Assert.Equal(DeadLetterReplayFailure.SubscriptionGone, Assert.Single(onB.Failures).Code);
        Assert.Equal(0, claimsByB);
        Assert.Equal(1, onA.Replayed);
        Assert.Single(connection.All().Events());
        Assert.Equal(0, onBAgain.Matched);
    }

    /// <summary>A hook that runs <paramref name="hook"/> on the first claim only (the hook's own claims pass).
    /// </summary>
    private static Func<string, IReadOnlyList<string>, Task> BeforeClaimOnce(
        Func<string, IReadOnlyList<string>, Task> hook)
    {
        var ran = 0;
        return (key, ids) => Interlocked.Exchange(ref ran, 1) == 0 ? hook(key, ids) : Task.CompletedTask;
    }

    /// <summary>A memory backend whose dead letters are in a shared store.</summary>
    private sealed class SharedDeadLetterBackend(FakeSharedDeadLetterStore store)
        : IEventBackend, ISharedDeadLetterPersistence
    {
        private readonly MemoryEventBackend _events = new();

        public string Name => "shared-dead-letters";

        public bool IsShared => true;

        public string InitialEpoch(string topic) => _events.InitialEpoch(topic);

        public Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken) =>
            _events.StartAsync(listener, cancellationToken);

        public ValueTask<AppendResult> AppendAsync(string topic, IReadOnlyList<EventData> events,
            DateTimeOffset publishedAt, CancellationToken cancellationToken) =>
            _events.AppendAsync(topic, events, publishedAt, cancellationToken);

        public ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(string topic, long first, long last,
            CancellationToken cancellationToken) => _events.ReadAsync(topic, first, last, cancellationToken);

        public ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
            IReadOnlyCollection<string> topics, CancellationToken cancellationToken) =>
            _events.DescribeAsync(topics, cancellationToken);

        public ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken) =>
            _events.ListTopicsAsync(cancellationToken);

        public ValueTask DisposeAsync() => _events.DisposeAsync();

        public ValueTask<int> FileAsync(DeadLetter letter, int maxCount, DateTimeOffset notBefore,
            CancellationToken cancellationToken) => store.FileAsync(letter, maxCount, notBefore, cancellationToken);

        public ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken) =>
            store.SaveAsync(letter, cancellationToken);

        public ValueTask DeleteAsync(string key, string id, CancellationToken cancellationToken) =>
            store.DeleteAsync(key, id, cancellationToken);

        public ValueTask<IReadOnlyList<DeadLetter>> ListAsync(string key, DateTimeOffset notBefore,
            CancellationToken cancellationToken) => store.ListAsync(key, notBefore, cancellationToken);

        public ValueTask<DeadLetter?> GetAsync(string key, string id, CancellationToken cancellationToken) =>
            store.GetAsync(key, id, cancellationToken);

        public ValueTask<IReadOnlyList<string>> ClaimAsync(string key, IReadOnlyList<string> ids,
            CancellationToken cancellationToken) => store.ClaimAsync(key, ids, cancellationToken);

        public ValueTask<(long Depth, DateTimeOffset? Oldest)> MeasureAsync(DateTimeOffset notBefore,
            CancellationToken cancellationToken) => store.MeasureAsync(notBefore, cancellationToken);

        public ValueTask<IReadOnlyList<DeadLetter>> LoadAllAsync(CancellationToken cancellationToken) =>
            store.LoadAllAsync(cancellationToken);
    }
}
