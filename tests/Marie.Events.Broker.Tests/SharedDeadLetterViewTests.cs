using Google.Protobuf;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Broker.Tests;

/// <summary>The view of a shared dead-letter store (<see cref="SharedDeadLetterView"/>) against a fake shared
/// persistence that two views (two gateways) use at once: pages, claims, retention and depth are the store's.
/// </summary>
public sealed class SharedDeadLetterViewTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(TestBroker.StartTime);
    private readonly FakeSharedPersistence _store = new();
    private readonly List<SharedDeadLetterView> _views = [];

    private SharedDeadLetterView NewView(int maxCount = 100, double maxAgeSeconds = 3600)
    {
        var options = new DeadLetterOptions { MaxCount = maxCount, MaxAgeSeconds = maxAgeSeconds };
        var view = new SharedDeadLetterView(_store, options, _time, NullLogger.Instance);
        view.Writer.Start();
        _views.Add(view);
        return view;
    }

    public void Dispose()
    {
        foreach (var view in _views)
        {
            view.Dispose();
        }
    }

    private DeadLetter Letter(string id, string key = "k1", string topic = "orders") => new(
        id, key, topic, 7, Ev.Make(topic).ToByteArray(), _time.GetUtcNow(),
        new DeadLetterSubscription("s1", "c1", null, null),
        new DeadLetterRound(DeadLetterReason.Terminated, "bad", 1, _time.GetUtcNow(), _time.GetUtcNow(),
            _time.GetUtcNow()),
        []);

    /// <summary>Files letters one millisecond apart, so their order is known.</summary>
    private void FileEach(SharedDeadLetterView view, params string[] ids)
    {
        foreach (var id in ids)
        {
            view.File(Letter(id));
            _time.Advance(TimeSpan.FromMilliseconds(1));
        }
    }

    private static async Task FlushAsync(SharedDeadLetterView view)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await view.Writer.FlushAsync(cts.Token);
    }

    [Fact]
    public async Task ListAsync_OwnFilingJustMade_ListedAtOnce()
    {
        var view = NewView();
        view.File(Letter("a"));

        var page = await view.ListAsync("k1", DeadLetterQuery.All, null, 10, CancellationToken.None);

        Assert.Equal("a", Assert.Single(page.Items).Id);
    }

    [Fact]
    public async Task ListAsync_PageTokenOfOneGateway_ContinuesOnAnother()
    {
        var a = NewView();
        var b = NewView();
        FileEach(a, "1", "2", "3");
        FileEach(b, "4", "5");
        await FlushAsync(b);

        var first = await a.ListAsync("k1", DeadLetterQuery.All, null, 2, CancellationToken.None);
        var second = await b.ListAsync("k1", DeadLetterQuery.All, first.NextPageToken, 2, CancellationToken.None);
        var third = await a.ListAsync("k1", DeadLetterQuery.All, second.NextPageToken, 2, CancellationToken.None);

        Assert.Equal(["1", "2"], first.Items.Select(l => l.Id));
        Assert.Equal(["3", "4"], second.Items.Select(l => l.Id));
        Assert.Equal(["5"], third.Items.Select(l => l.Id));
        Assert.Null(third.NextPageToken);
        Assert.All(new[] { first, second, third }, p => Assert.Equal(5, p.Total));
    }

    [Fact]
    public async Task ListAsync_TokenNotOfTheCluster_ArgumentException()
    {
        var view = NewView();

        await Assert.ThrowsAsync<ArgumentException>(() =>
            view.ListAsync("k1", DeadLetterQuery.All, "12", 2, CancellationToken.None));
    }

    [Fact]
    public async Task ClaimAsync_TwoGatewaysClaimOneLetter_OnlyOneWins()
    {
        var a = NewView();
        var b = NewView();
        FileEach(a, "x");
        await FlushAsync(a);

        var claims = await Task.WhenAll(a.ClaimAsync("k1", "x"), b.ClaimAsync("k1", "x"));

        Assert.Equal(1, claims.Count(c => c));
        Assert.Null(await b.GetAsync("k1", "x", CancellationToken.None));
    }

    [Fact]
    public async Task PurgeAsync_DryRunThenPurge_CountsFromTheStoreAndRemovesForEveryGateway()
    {
        var a = NewView();
        var b = NewView();
        FileEach(a, "1", "2");
        a.File(Letter("3", topic: "other"));
        await FlushAsync(a);
        var orders = new DeadLetterQuery(Topic: "orders");

        var dry = await b.PurgeAsync("k1", orders, dryRun: true, CancellationToken.None);
        var purged = await b.PurgeAsync("k1", orders, dryRun: false, CancellationToken.None);
        var left = await a.ListAsync("k1", DeadLetterQuery.All, null, 10, CancellationToken.None);

        Assert.Equal(2, dry);
        Assert.Equal(2, purged);
        Assert.Equal("3", Assert.Single(left.Items).Id);
    }

    [Fact]
    public async Task File_OverMaxCountAcrossGateways_StoreKeepsTheNewestAndCountsEvictions()
    {
        var a = NewView(maxCount: 3);
        var b = NewView(maxCount: 3);
        FileEach(a, "1", "2");
        await FlushAsync(a);
        FileEach(b, "3", "4");
        await FlushAsync(b);

        var listed = await a.ListAsync("k1", DeadLetterQuery.All, null, 10, CancellationToken.None);

        Assert.Equal(["2", "3", "4"], listed.Items.Select(l => l.Id));
        Assert.Equal(1, b.Writer.Evicted);
        Assert.Equal(0, a.Writer.Evicted);
    }

    [Fact]
    public async Task GetAndMeasure_LetterOlderThanMaxAge_NotAnsweredNorCounted()
    {
        var view = NewView(maxAgeSeconds: 60);
        FileEach(view, "old");
        await FlushAsync(view);
        _time.Advance(TimeSpan.FromSeconds(30));
        FileEach(view, "new");
        await FlushAsync(view);
        _time.Advance(TimeSpan.FromSeconds(31));

        var old = await view.GetAsync("k1", "old", CancellationToken.None);
        var (depth, oldest) = await view.MeasureAsync(CancellationToken.None);

        Assert.Null(old);
        Assert.NotNull(await view.GetAsync("k1", "new", CancellationToken.None));
        Assert.Equal(1, depth);
        Assert.Equal(TestBroker.StartTime + TimeSpan.FromMilliseconds(1) + TimeSpan.FromSeconds(30), oldest);
        Assert.Equal((1L, oldest), view.Measure());
    }

    /// <summary>One store two views share: per key the letters ordered by (time in ms, id), with the retention and
    /// the claims a shared store promises.</summary>
    private sealed class FakeSharedPersistence : ISharedDeadLetterPersistence
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, SortedDictionary<(long Ms, string Id), DeadLetter>> _keys = [];

        public bool IsShared => true;

        public ValueTask<int> FileAsync(DeadLetter letter, int maxCount, DateTimeOffset notBefore,
            CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                var letters = Letters(letter.Key);
                Remove(letters, letter.Id);
                letters[(letter.Last.DeadLetteredAt.ToUnixTimeMilliseconds(), letter.Id)] = letter;
                var removed = 0;
                foreach (var old in letters.Keys.Where(k => k.Ms < notBefore.ToUnixTimeMilliseconds()).ToList())
                {
                    letters.Remove(old);
                    removed++;
                }

                while (maxCount > 0 && letters.Count > maxCount)
                {
                    letters.Remove(letters.Keys.First());
                    removed++;
                }

                return ValueTask.FromResult(removed);
            }
        }

        public ValueTask SaveAsync(DeadLetter letter, CancellationToken cancellationToken) =>
            new(FileAsync(letter, 0, DateTimeOffset.UnixEpoch, cancellationToken).AsTask());

        public ValueTask DeleteAsync(string key, string id, CancellationToken cancellationToken) =>
            new(ClaimAsync(key, [id], cancellationToken).AsTask());

        public ValueTask<IReadOnlyList<DeadLetter>> ListAsync(string key, DateTimeOffset notBefore,
            CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult<IReadOnlyList<DeadLetter>>([.. Letters(key)
                    .Where(p => p.Key.Ms >= notBefore.ToUnixTimeMilliseconds()).Select(p => p.Value)]);
            }
        }

        public ValueTask<DeadLetter?> GetAsync(string key, string id, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult(Letters(key).Values.FirstOrDefault(l => l.Id == id));
            }
        }

        public ValueTask<IReadOnlyList<string>> ClaimAsync(string key, IReadOnlyList<string> ids,
            CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                var letters = Letters(key);
                return ValueTask.FromResult<IReadOnlyList<string>>([.. ids.Where(id => Remove(letters, id))]);
            }
        }

        public ValueTask<(long Depth, DateTimeOffset? Oldest)> MeasureAsync(DateTimeOffset notBefore,
            CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                var held = _keys.Values.SelectMany(l => l.Keys)
                    .Where(k => k.Ms >= notBefore.ToUnixTimeMilliseconds()).ToList();
                DateTimeOffset? oldest = held.Count == 0
                    ? null
                    : DateTimeOffset.FromUnixTimeMilliseconds(held.Min(k => k.Ms));
                return ValueTask.FromResult(((long)held.Count, oldest));
            }
        }

        public ValueTask<IReadOnlyList<DeadLetter>> LoadAllAsync(CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult<IReadOnlyList<DeadLetter>>([.. _keys.Values.SelectMany(l => l.Values)]);
            }
        }

        private SortedDictionary<(long Ms, string Id), DeadLetter> Letters(string key)
        {
            if (!_keys.TryGetValue(key, out var letters))
            {
                letters = new SortedDictionary<(long Ms, string Id), DeadLetter>(Comparer<(long Ms, string Id)>
                    .Create((x, y) => x.Ms != y.Ms ? x.Ms.CompareTo(y.Ms) : string.CompareOrdinal(x.Id, y.Id)));
                _keys.Add(key, letters);
            }

            return letters;
        }

        private static bool Remove(SortedDictionary<(long Ms, string Id), DeadLetter> letters, string id)
        {
            var found = letters.Keys.FirstOrDefault(k => k.Id == id);
            return found.Id is not null && letters.Remove(found);
        }
    }
}
