using System.Collections.Concurrent;
using System.Diagnostics;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Google.Protobuf;
using TraceContext = Marie.Events.Protocol.TraceContext;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Broker.Tests;

/// <summary>The dead-letter store's write-behind (<see cref="DeadLetterWriter"/>) against a fake persistence:
/// every change reaches it in order, retention and purges are deleted, a failing persistence is logged, counted and
/// retried, never thrown to the caller; and the bytes a persistence keeps carry the whole dead letter.</summary>
public sealed class DeadLetterPersistenceTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(TestBroker.StartTime);
    private readonly CapturingLoggerFactory _logs = new();

    private (MemoryDeadLetterStore Store, DeadLetterWriter Writer) NewStore(FakePersistence persistence,
        int maxCount = 100, double maxAgeSeconds = 3600)
    {
        var writer = new DeadLetterWriter(persistence, _logs.CreateLogger("test"), _time);
        var options = new DeadLetterOptions { MaxCount = maxCount, MaxAgeSeconds = maxAgeSeconds };
        return (new MemoryDeadLetterStore(options, _time, writer), writer);
    }

    private DeadLetter Letter(string id, string key = "k1", string reason = "bad") => new(
        id, key, "orders", 7, Ev.Make("orders").ToByteArray(), _time.GetUtcNow(),
        new DeadLetterSubscription("s1", "c1", "dur", "grp"),
        new DeadLetterRound(DeadLetterReason.Terminated, reason, 2, _time.GetUtcNow(), _time.GetUtcNow(),
            _time.GetUtcNow()),
        []);

    public void Dispose() => _logs.Dispose();

    private static async Task FlushAsync(DeadLetterWriter writer)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await writer.FlushAsync(cts.Token);
    }

    [Fact]
    public async Task Changes_WrittenOneAtATime_ReachThePersistenceInOrder()
    {
        var persistence = new FakePersistence();
        var (store, writer) = NewStore(persistence);
        using var _ = writer;
        writer.Start();

        store.Add(Letter("a"));
        await FlushAsync(writer);
        store.Add(Letter("b"));
        await FlushAsync(writer);
        Assert.True(store.Remove("k1", "a"));
        await FlushAsync(writer);
        store.Add(Letter("a", reason: "again"));
        await FlushAsync(writer);

        Assert.Equal(["save k1/a", "save k1/b", "delete k1/a", "save k1/a"], persistence.Calls);
        Assert.Equal("again", persistence.Stored[("k1", "a")].Last.ClientReason);
        Assert.Equal(4, writer.Written);
    }

    [Fact]
    public async Task Changes_MadeBeforeTheWriterRuns_LaterChangeOfALetterReplacesTheWaitingOneAndOrderHolds()
    {
        var persistence = new FakePersistence();
        var (store, writer) = NewStore(persistence);
        using var _ = writer;

        store.Add(Letter("a"));
        store.Add(Letter("b"));
        store.Remove("k1", "a");
        store.Add(Letter("c"));
        Assert.Equal(3, writer.Pending);
        writer.Start();
        await FlushAsync(writer);

        Assert.Equal(["save k1/b", "delete k1/a", "save k1/c"], persistence.Calls);
        Assert.Equal(["b", "c"], persistence.Stored.Keys.Select(k => k.Id).Order());
    }

    [Fact]
    public async Task Retention_MaxCountAndMaxAge_EvictedLettersAreDeleted()
    {
        var persistence = new FakePersistence();
        var (store, writer) = NewStore(persistence, maxCount: 2, maxAgeSeconds: 60);
        using var _ = writer;
        writer.Start();

        store.Add(Letter("a"));
        store.Add(Letter("b"));
        store.Add(Letter("c"));
        await FlushAsync(writer);
        Assert.Equal(["b", "c"], persistence.Stored.Keys.Select(k => k.Id).Order());

        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(0, store.Measure().Depth);
        await FlushAsync(writer);

        Assert.Empty(persistence.Stored);
        Assert.Equal(3, persistence.Calls.Count(c => c.StartsWith("delete", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Purge_MatchingLetters_DeletedFromThePersistenceOthersKept()
    {
        var persistence = new FakePersistence();
        var (store, writer) = NewStore(persistence);
        using var _ = writer;
        writer.Start();
        store.Add(Letter("a"));
        store.Add(Letter("b", key: "k2"));
        store.Add(Letter("c"));

        var purged = store.Purge("k1", DeadLetterQuery.All);
        await FlushAsync(writer);

        Assert.Equal(2, purged);
        Assert.Equal([("k2", "b")], persistence.Stored.Keys);
    }

    [Fact]
    public async Task Persistence_Failing_LoggedCountedNotThrownAndWrittenOnceItWorksAgain()
    {
        var persistence = new FakePersistence { FailuresLeft = 2 };
        var (store, writer) = NewStore(persistence);
        using var _ = writer;
        writer.Start();

        store.Add(Letter("a"));
        WaitUntil(() => writer.Failures == 1, "the first write failed");
        Assert.Equal(1, writer.Pending);
        _time.Advance(DeadLetterWriter.RetryDelay);
        WaitUntil(() => writer.Failures == 2, "the retry failed too");
        _time.Advance(DeadLetterWriter.RetryDelay);
        await FlushAsync(writer);

        Assert.Equal([("k1", "a")], persistence.Stored.Keys);
        Assert.NotNull(store.Find("k1", "a"));
        var warnings = _logs.AtLevel(LogLevel.Warning).Select(e => e.Message).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains("(2 failures since start, 1 changes waiting)", warnings[1], StringComparison.Ordinal);
        Assert.Contains("disk on fire", warnings[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restore_StoredLetters_ListedOldestFirstNotWrittenAgainAndOverRetentionDeleted()
    {
        var persistence = new FakePersistence();
        var (store, writer) = NewStore(persistence, maxCount: 2);
        using var _ = writer;
        var old = Letter("old");
        _time.Advance(TimeSpan.FromSeconds(1));
        var mid = Letter("mid");
        _time.Advance(TimeSpan.FromSeconds(1));
        var recent = Letter("new");

        var dropped = store.Restore([recent, old, mid]);
        writer.Start();
        await FlushAsync(writer);

        Assert.Equal(1, dropped);
        Assert.Equal(["mid", "new"],
            store.List("k1", DeadLetterQuery.All, null, 10).Items.Select(l => l.Id));
        Assert.Equal(["delete k1/old"], persistence.Calls);
    }

    [Fact]
    public void ToBytes_FromBytes_EveryFieldKeptWithTheEventAndItsTraceContext()
    {
        var evt = Ev.Make("orders");
        evt.TraceContext = new TraceContext { Traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
        var at = TestBroker.StartTime;
        var letter = new DeadLetter("0123456789abcdef0123456789abcdef", "k1", "orders", 42, evt.ToByteArray(),
            at.AddMilliseconds(-5), new DeadLetterSubscription("s1", "c9", "dur", null),
            new DeadLetterRound(DeadLetterReason.MaxAttempts, "", 5, at, at.AddSeconds(4), at.AddSeconds(5)),
            [new DeadLetterRound(DeadLetterReason.Terminated, "why", 1, at.AddDays(-1), at.AddDays(-1),
                at.AddDays(-1))]);

        var read = DeadLetter.FromBytes(letter.ToBytes());

        Assert.Equal((letter.Id, letter.Key, letter.Topic, letter.Sequence, letter.PublishedAt),
            (read.Id, read.Key, read.Topic, read.Sequence, read.PublishedAt));
        Assert.Equal(letter.Subscription, read.Subscription);
        Assert.Equal(letter.Last, read.Last);
        Assert.Equal(letter.History, read.History);
        Assert.Equal(2, read.Count);
        Assert.Equal(evt, read.Event);
        Assert.Equal(evt.TraceContext.Traceparent, read.Event.TraceContext.Traceparent);
    }

    [Fact]
    public void FromBytes_NotADeadLetter_FormatException()
    {
        Assert.Throws<FormatException>(() => DeadLetter.FromBytes([0xff, 0xff, 0xff]));
        Assert.Throws<FormatException>(() => DeadLetter.FromBytes([]));
    }

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Timeout, $"timed out waiting until {what}");
            Thread.Yield();
        }
    }

    /// <summary>A persistence in a dictionary that records each call and can fail the first few.</summary>
    private sealed class FakePersistence : IDeadLetterPersistence
    {
        private readonly ConcurrentQueue<string> _calls = new();

        public ConcurrentDictionary<(string Key, string Id), DeadLetter> Stored { get; } = new();

        public int FailuresLeft { get; set; }

        public bool IsShared => false;

        public List<string> Calls => [.. _calls];

        public ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken)
        {
            Fail();
            _calls.Enqueue($"save {letter.Key}/{letter.Id}");
            Stored[(letter.Key, letter.Id)] = DeadLetter.FromBytes(letter.ToBytes());
            return ValueTask.CompletedTask;
        }

        public ValueTask DeleteAsync(string key, string id, CancellationToken cancellationToken)
        {
            Fail();
            _calls.Enqueue($"delete {key}/{id}");
            Stored.TryRemove((key, id), out _);
            return ValueTask.CompletedTask;
        }

        public ValueTask<IReadOnlyList<DeadLetter>> LoadAllAsync(CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyList<DeadLetter>>([.. Stored.Values]);

        private void Fail()
        {
            if (FailuresLeft > 0)
            {
                FailuresLeft--;
                throw new BackendException("disk on fire");
            }
        }
    }
}
