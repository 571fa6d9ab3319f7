using Marie.Events.Broker.Connections;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Broker.Tests;

/// <summary>Dead letters: what is kept, per key, retention, the log lines, replay, purge, stats. Ack timeout 10 s,
/// checks every second, two attempts: an unacked event is dead-lettered at 20 s.</summary>
public sealed class DeadLetterTests
{
    private static TestBroker NewBroker(Action<BrokerOptions>? more = null) => new(o =>
    {
        o.AckTimeoutSeconds = 10;
        o.RedeliveryDelaySeconds = 1;
        o.MaxRedeliveryAttempts = 2;
        more?.Invoke(o);
    });

    private static async Task<BrokerConnection> SubscribeAsync(
        TestBroker t, string key, string subscriptionId, string topic = "a")
    {
        var connection = t.ConnectAs(key);
        await connection.HandleAsync(Msg.Subscribe(subscriptionId, topic));
        Assert.Single(connection.All().Confirms());
        return connection;
    }

    private static async Task TerminateAllAsync(BrokerConnection connection, string reason = "bad")
    {
        var ids = connection.All().Events().Select(e => e.AckId).ToArray();
        await connection.HandleAsync(Msg.Terminate(reason, ids));
    }

    [Fact]
    public async Task MaxAttempts_Exceeded_WarningStaysAndIsFollowedByWhereTheEventWent()
    {
        using var t = NewBroker();
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.Publish("a");
        var ackId = Assert.Single(connection.All().Events()).AckId;

        t.AdvanceSeconds(20);

        var letter = Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);
        var warnings = t.Logs.AtLevel(LogLevel.Warning).Select(e => e.Message).ToList();
        var dropped = warnings.FindIndex(
            m => m.StartsWith($"Event {ackId} dropped after 2 attempts", StringComparison.Ordinal));
        Assert.True(dropped >= 0);
        Assert.StartsWith(
            $"Event {ackId} dead-lettered as {letter.Id} (key k1, reason max_attempts",
            warnings[dropped + 1]);
        Assert.Equal(DeadLetterReason.MaxAttempts, letter.Last.Reason);
        Assert.Equal(2, letter.Last.Attempts);
        Assert.Equal(TestBroker.StartTime, letter.Last.FirstDeliveredAt);
        Assert.Equal(TestBroker.StartTime.AddSeconds(10), letter.Last.LastDeliveredAt);
        Assert.Equal(1, letter.Count);
        Assert.Equal(1, t.Stats().EventsDropped);
    }

    [Fact]
    public async Task DeadLetters_PerKey_NoKeySeesAnothersAndTheSameSubscriptionIdStaysApart()
    {
        using var t = NewBroker();
        var k1 = await SubscribeAsync(t, "k1", "s1");
        var k2 = await SubscribeAsync(t, "k2", "s1");
        t.Publish("a");
        await TerminateAllAsync(k1);
        await TerminateAllAsync(k2);

        var mine = Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);
        var theirs = Assert.Single(t.Broker.ListDeadLetters("k2", DeadLetterQuery.All, null, 10).Items);

        Assert.NotEqual(mine.Id, theirs.Id);
        Assert.Null(t.Broker.GetDeadLetter("k1", theirs.Id));
        Assert.Equal(0, t.Broker.PurgeDeadLetters("k1", new DeadLetterQuery(Ids: new HashSet<string> { theirs.Id })));
        var replay = await t.Broker.ReplayDeadLettersAsync(
            "k1", new DeadLetterQuery(Ids: new HashSet<string> { theirs.Id }), dryRun: false, 0);
        Assert.Equal(0, replay.Matched);
        Assert.NotNull(t.Broker.GetDeadLetter("k2", theirs.Id));
    }

    [Fact]
    public async Task Retention_MaxCount_OldestGoesFirstPerKey()
    {
        using var t = NewBroker(o => o.DeadLetters.MaxCount = 3);
        var connection = await SubscribeAsync(t, "k1", "s1");
        var other = await SubscribeAsync(t, "k2", "s1");
        t.PublishMany("a", 5);
        await TerminateAllAsync(connection);
        await TerminateAllAsync(other);

        var sequences = t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items.Select(l => l.Sequence);

        Assert.Equal([3L, 4L, 5L], sequences);
        Assert.Equal(6, t.Broker.DeadLetterStats().Depth);
        Assert.Equal(4, t.Broker.DeadLetterStats().Evicted);
    }

    [Fact]
    public async Task Retention_MaxAge_OlderOnesAreGone()
    {
        using var t = NewBroker(o => o.DeadLetters.MaxAgeSeconds = 60);
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.Publish("a");
        await TerminateAllAsync(connection);
        t.AdvanceSeconds(30);
        t.Publish("a");
        await TerminateAllAsync(connection);

        t.AdvanceSeconds(31);

        var left = Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);
        Assert.Equal(2, left.Sequence);
        Assert.Equal(TimeSpan.FromSeconds(31), t.Broker.DeadLetterStats().OldestAge);
    }

    [Fact]
    public async Task List_Paging_OldestFirstWithTokensAndTotal()
    {
        using var t = NewBroker();
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.PublishMany("a", 5);
        await TerminateAllAsync(connection);

        var first = t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 2);
        var second = t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, first.NextPageToken, 2);
        var third = t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, second.NextPageToken, 2);

        Assert.Equal([1L, 2L], first.Items.Select(l => l.Sequence));
        Assert.Equal([3L, 4L], second.Items.Select(l => l.Sequence));
        Assert.Equal([5L], third.Items.Select(l => l.Sequence));
        Assert.Null(third.NextPageToken);
        Assert.Equal(5, first.Total);
        Assert.Throws<ArgumentException>(() => t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, "x", 2));
    }

    [Fact]
    public async Task Replay_ReachesOnlyTheSubscriptionThatFailedIt_KeepsIdAndDeadLettersAgainWithCount()
    {
        using var t = NewBroker();
        var failing = await SubscribeAsync(t, "k1", "s1");
        var bystander = await SubscribeAsync(t, "k1", "s2");
        t.Publish("a");
        var first = Assert.Single(failing.All().Events());
        await bystander.HandleAsync(Msg.Ack("", Assert.Single(bystander.All().Events()).AckId));
        await failing.HandleAsync(Msg.Terminate("bad", first.AckId));
        var letter = Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);

        var result = await t.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);

        Assert.Equal(1, result.Replayed);
        var again = Assert.Single(failing.All().Events());
        Assert.Equal(first.AckId, again.AckId);
        Assert.Equal(first.Event, again.Event);
        Assert.Equal(1, again.DeliveryAttempt);
        Assert.Empty(bystander.All().Events());
        Assert.Empty(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);

        t.AdvanceSeconds(20);

        var twice = Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);
        Assert.Equal(letter.Id, twice.Id);
        Assert.Equal(2, twice.Count);
        Assert.Equal(DeadLetterReason.MaxAttempts, twice.Last.Reason);
        Assert.Equal(DeadLetterReason.Terminated, Assert.Single(twice.History).Reason);
        Assert.Equal("bad", twice.History[0].ClientReason);
        Assert.Contains(t.Logs.Entries, e => e.Message.Contains("dead-lettered 2 times", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Replay_DryRun_CountsWhatWouldBeSentAndSendsNothing()
    {
        using var t = NewBroker();
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.PublishMany("a", 3);
        await TerminateAllAsync(connection);

        var dry = await t.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: true, 2);

        Assert.Equal((3, 2, 0, true), (dry.Matched, dry.Selected, dry.Replayed, dry.DryRun));
        Assert.Empty(connection.All().Events());
        Assert.Equal(3, t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Total);
        var real = await t.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 2);
        Assert.Equal(dry.Selected, real.Replayed);
        Assert.Equal([1L, 2L], connection.All().Events().Seqs());
    }

    [Fact]
    public async Task Replay_SubscriptionGone_FailsWithSubscriptionGoneAndTheLetterStays()
    {
        using var t = NewBroker();
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.Publish("a");
        await TerminateAllAsync(connection);
        connection.Dispose();
        var reopened = await SubscribeAsync(t, "k1", "s1");

        var result = await t.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);

        Assert.Equal(0, result.Replayed);
        Assert.Equal(DeadLetterReplayFailure.SubscriptionGone, Assert.Single(result.Failures).Code);
        Assert.Empty(reopened.All().Events());
        Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items);
    }

    [Fact]
    public async Task Replay_AtMaxInFlight_FailsWithSubscriptionBusy()
    {
        using var t = NewBroker(o => o.MaxInFlight = 1);
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.PublishMany("a", 2);
        await TerminateAllAsync(connection);
        Assert.Single(connection.All().Events());

        var result = await t.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);

        Assert.Equal(DeadLetterReplayFailure.SubscriptionBusy, Assert.Single(result.Failures).Code);
    }

    [Fact]
    public async Task Replay_PacedAtReplayPerSecond()
    {
        using var t = NewBroker(o => o.DeadLetters.ReplayPerSecond = 2);
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.PublishMany("a", 4);
        await TerminateAllAsync(connection);

        var replay = t.Broker.ReplayDeadLettersAsync("k1", DeadLetterQuery.All, dryRun: false, 0);

        // The wait's continuation runs on the thread pool once the fake clock passes it: the test waits for what it
        // should cause, with a timeout.
        Assert.False(replay.IsCompleted);
        Assert.Equal(2, connection.All().Events().Count);
        t.Advance(TimeSpan.FromMilliseconds(400));
        Assert.Equal(2, t.Broker.DeadLetterStats().Depth);
        t.Advance(TimeSpan.FromMilliseconds(200));
        Assert.True(SpinWait.SpinUntil(() => t.Broker.DeadLetterStats().Depth == 1, TimeSpan.FromSeconds(10)));
        Assert.False(replay.IsCompleted);
        // The last one is due 0.5 s after the third (whenever its continuation ran): step until it comes.
        for (var i = 0; i < 100 && !replay.IsCompleted; i++)
        {
            t.Advance(TimeSpan.FromMilliseconds(100));
            SpinWait.SpinUntil(() => replay.IsCompleted, TimeSpan.FromMilliseconds(50));
        }

        Assert.Equal(4, (await replay).Replayed);
    }

    [Fact]
    public async Task Purge_Filter_RemovesOnlyMatchingAndDryRunOnlyCounts()
    {
        using var t = NewBroker();
        var a = await SubscribeAsync(t, "k1", "s1", "a");
        var b = await SubscribeAsync(t, "k1", "s2", "b");
        t.PublishMany("a", 2);
        t.Publish("b");
        await TerminateAllAsync(a);
        await TerminateAllAsync(b);
        var onA = new DeadLetterQuery(Topic: "a");

        Assert.Equal(2, t.Broker.PurgeDeadLetters("k1", onA, dryRun: true));
        Assert.Equal(3, t.Broker.DeadLetterStats().Depth);
        Assert.Equal(2, t.Broker.PurgeDeadLetters("k1", onA));

        Assert.Equal("b", Assert.Single(t.Broker.ListDeadLetters("k1", DeadLetterQuery.All, null, 10).Items).Topic);
        Assert.Equal(2, t.Broker.DeadLetterStats().Purged);
    }

    [Fact]
    public async Task Stats_CountsByReasonDepthAndOldestAge()
    {
        using var t = NewBroker();
        var connection = await SubscribeAsync(t, "k1", "s1");
        t.Publish("a");
        await TerminateAllAsync(connection);
        t.Publish("a");
        connection.All();
        t.AdvanceSeconds(20);

        var stats = t.Broker.DeadLetterStats();

        Assert.Equal((2L, 1L, 1L), (stats.Depth, stats.MaxAttempts, stats.Terminated));
        Assert.Equal(TimeSpan.FromSeconds(20), stats.OldestAge);
    }
}
