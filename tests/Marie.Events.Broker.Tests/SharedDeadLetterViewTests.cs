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
    private readonly FakeSharedDeadLetterStore _store = new();
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
}
