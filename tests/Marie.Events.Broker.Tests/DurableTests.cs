using Marie.Events.Broker.Connections;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Durables;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Durable subscriptions on fake time: what survives a stream, names per key, the inactive TTL, a restart
/// on a store. Unless a test says otherwise: ack timeout 10 s, a redelivery check every second.</summary>
public sealed class DurableTests
{
    internal static TestBroker NewBroker(Action<BrokerOptions>? more = null, IDurableStore? store = null) => new(o =>
    {
        o.AckTimeoutSeconds = 10;
        o.RedeliveryDelaySeconds = 1;
        more?.Invoke(o);
    }, durables: store);

    internal static SubscribeRequest Durable(string id, string name, string group = "", params string[] topics)
    {
        var request = Msg.Sub(id, topics.Length == 0 ? ["a"] : topics);
        request.DurableName = name;
        request.Group = group;
        return request;
    }

    internal static async Task<BrokerConnection> JoinAsync(TestBroker t, string key, SubscribeRequest request)
    {
        var connection = t.ConnectAs(key);
        await connection.HandleAsync(Msg.Subscribe(request));
        return connection;
    }

    [Fact]
    public async Task Resubscribe_AfterStreamEnded_DeliversExactlyTheUnacknowledgedThenLive()
    {
        using var t = NewBroker();
        var first = await JoinAsync(t, "k1", Durable("s1", "orders"));
        Assert.Equal("orders", Assert.Single(first.All().Confirms()).DurableName);
        t.PublishMany("a", 5);
        var events = first.All().Events();
        Assert.Equal([1, 2, 3, 4, 5], events.Seqs());
        await first.HandleAsync(Msg.Ack("s1", events[0].AckId, events[1].AckId, events[3].AckId));
        first.Dispose();
        t.Publish("a");

        var second = await JoinAsync(t, "k1", Durable("s2", "orders"));
        var again = second.All().Events();

        Assert.Equal([3, 5, 6], again.Seqs());
        Assert.Equal([2, 2, 1], again.Select(e => e.DeliveryAttempt).ToArray());
        t.Publish("a");
        Assert.Equal([7], second.All().Events().Seqs());
    }

    [Fact]
    public async Task Resubscribe_AfterEverythingAcked_ReplaysNothing()
    {
        using var t = NewBroker();
        var first = await JoinAsync(t, "k1", Durable("s1", "orders"));
        t.PublishMany("a", 3);
        await first.HandleAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "s1",
                Cumulative = new CumulativeAck { Topic = "a", UpToSequenceNum = 3 },
            },
        });
        first.Dispose();

        var second = await JoinAsync(t, "k1", Durable("s1", "orders"));

        Assert.Empty(second.All().Events());
        var listed = Assert.Single(t.Broker.ListDurables("k1"));
        Assert.Equal(3, Assert.Single(listed.Topics).Acked);
    }

    [Fact]
    public async Task SameName_TwoKeys_TwoIndependentSubscriptions()
    {
        using var t = NewBroker();
        var one = await JoinAsync(t, "k1", Durable("s1", "shared"));
        var two = await JoinAsync(t, "k2", Durable("s1", "shared"));
        t.PublishMany("a", 2);

        Assert.Equal([1, 2], one.All().Events().Seqs());
        Assert.Equal([1, 2], two.All().Events().Seqs());
        Assert.Equal(["k1"], t.Broker.ListDurables("k1").Select(d => d.Key));
        Assert.Equal(2, t.Broker.ListDurables(null).Count);
        Assert.Equal(DurableDeleteOutcome.NotFound, await t.Broker.DeleteDurableAsync("k3", "shared"));
    }

    [Fact]
    public async Task SecondStream_WithoutGroup_ConflictAndStreamStaysUp()
    {
        using var t = NewBroker();
        await JoinAsync(t, "k1", Durable("s1", "orders"));
        var other = await JoinAsync(t, "k1", Durable("s1", "orders"));

        var error = Assert.Single(other.All().Errors());
        Assert.Equal(ErrorCode.ErrorDurableConflict, error.Code);
        var ok = await other.SendAndDrainAsync(Msg.Subscribe("plain", "a"));
        Assert.Single(ok.Confirms());
    }

    [Fact]
    public async Task Group_WithoutDurableName_ErrorAndStreamStaysUp()
    {
        using var t = NewBroker();
        var request = Msg.Sub("s1", "a");
        request.Group = "workers";
        var connection = await JoinAsync(t, "k1", request);

        var error = Assert.Single(connection.All().Errors());
        Assert.Equal(ErrorCode.ErrorGroupWithoutDurable, error.Code);
        Assert.Equal("group", error.Details["field"]);
        Assert.Single((await connection.SendAndDrainAsync(Msg.Subscribe("s1", "a"))).Confirms());
    }

    [Fact]
    public async Task ListDurables_HeldThenLeft_ExpiresAtIsLeftPlusTheTtl()
    {
        using var t = NewBroker(o => o.Durable.InactiveTtlSeconds = 30);
        var connection = await JoinAsync(t, "k1", Durable("s1", "orders"));
        var held = Assert.Single(t.Broker.ListDurables("k1"));
        t.AdvanceSeconds(5);
        connection.Dispose();

        var left = Assert.Single(t.Broker.ListDurables("k1"));

        Assert.Null(held.ExpiresAt);
        Assert.Equal(0, left.Members);
        Assert.Equal(t.Time.GetUtcNow(), left.LastActiveAt);
        Assert.Equal(t.Time.GetUtcNow().AddSeconds(30), left.ExpiresAt);
    }

    [Fact]
    public async Task InactiveTtl_NoStreamForTheTtl_RemovedLoggedAndCounted()
    {
        using var t = NewBroker(o =>
        {
            o.Durable.InactiveTtlSeconds = 30;
            o.HeartbeatIntervalSeconds = 4;
        });
        var connection = await JoinAsync(t, "k1", Durable("s1", "orders"));
        t.AdvanceSeconds(40);
        Assert.Single(t.Broker.ListDurables("k1"));
        connection.Dispose();

        t.AdvanceSeconds(29);
        Assert.Single(t.Broker.ListDurables("k1"));
        t.AdvanceSeconds(2);

        Assert.Empty(t.Broker.ListDurables("k1"));
        Assert.Equal(1, t.Broker.DurableStats().Expired);
        Assert.Contains(t.Logs.Entries, e => e.Message.Contains("Durable subscription orders of key k1 removed",
            StringComparison.Ordinal));
    }

    [Fact]
    public async Task Restart_OnTheSameStore_StateLoadedAndANewEpochNoticed()
    {
        var store = new MemoryDurableStore();
        string epoch;
        using (var t = NewBroker(store: store))
        {
            var connection = await JoinAsync(t, "k1", Durable("s1", "orders"));
            t.PublishMany("a", 3);
            var events = connection.All().Events();
            await connection.HandleAsync(Msg.Ack("s1", events[1].AckId));
            connection.Dispose();
            await t.Broker.FlushDurablesAsync();
            epoch = t.Epoch("a");
        }

        var snapshot = Assert.Single(await store.LoadAllAsync(CancellationToken.None));
        var topic = Assert.Single(snapshot.Topics);
        Assert.Equal((0L, 3L, epoch), (topic.Acked, topic.Delivered, topic.Epoch));
        Assert.Equal([new DurablePending(1, 1), new DurablePending(3, 1)], topic.Pending);

        // A memory backend restarted: the durable is back, its topic has a new epoch (the events are gone).
        using var restarted = NewBroker(store: store);
        await restarted.Broker.StartAsync();
        Assert.Equal(2, Assert.Single(Assert.Single(restarted.Broker.ListDurables("k1")).Topics).Pending.Count);
        var back = await JoinAsync(restarted, "k1", Durable("s1", "orders"));

        var error = Assert.Single(back.All().Errors());
        Assert.Equal(ErrorCode.ErrorEpochChanged, error.Code);
        Assert.Equal(epoch, error.Details["expected_epoch"]);
    }

    [Fact]
    public async Task DeadLetter_OfADurable_ReplaysToThatDurableOnly()
    {
        using var t = NewBroker();
        var durable = await JoinAsync(t, "k1", Durable("s1", "orders"));
        var plain = t.ConnectAs("k1");
        await plain.HandleAsync(Msg.Subscribe("p1", "a"));
        plain.All();
        t.Publish("a");
        var delivered = Assert.Single(durable.All().Events());
        plain.All();
        await durable.HandleAsync(Msg.Terminate("bad", delivered.AckId));
        var letter = Assert.Single(t.Broker.ListDeadLetters("k1", new DeadLetterQuery(), null, 10).Items);
        Assert.Equal("orders", letter.Subscription.DurableName);
        durable.Dispose();

        var result = await t.Broker.ReplayDeadLettersAsync("k1", new DeadLetterQuery(), false, 10);
        Assert.Equal(1, result.Replayed);
        Assert.Empty(plain.All().Events());
        var back = await JoinAsync(t, "k1", Durable("s2", "orders"));

        var replayed = Assert.Single(back.All().Events());
        Assert.Equal(delivered.SequenceNum, replayed.SequenceNum);
        Assert.Equal(1, replayed.DeliveryAttempt);
        Assert.Empty(plain.All().Events());
    }

    [Fact]
    public async Task DeadLetter_OfADeletedDurable_NotReplayedSubscriptionGone()
    {
        using var t = NewBroker();
        var durable = await JoinAsync(t, "k1", Durable("s1", "orders"));
        t.Publish("a");
        var delivered = Assert.Single(durable.All().Events());
        await durable.HandleAsync(Msg.Terminate("bad", delivered.AckId));
        durable.Dispose();
        Assert.Equal(DurableDeleteOutcome.Deleted, await t.Broker.DeleteDurableAsync("k1", "orders"));

        var result = await t.Broker.ReplayDeadLettersAsync("k1", new DeadLetterQuery(), false, 10);

        Assert.Equal(0, result.Replayed);
        Assert.Equal(DeadLetterReplayFailure.SubscriptionGone, Assert.Single(result.Failures).Code);
        Assert.Single(t.Broker.ListDeadLetters("k1", new DeadLetterQuery(), null, 10).Items);
    }

    [Fact]
    public async Task Delete_WhileAStreamHoldsIt_InUse()
    {
        using var t = NewBroker();
        await JoinAsync(t, "k1", Durable("s1", "orders"));

        Assert.Equal(DurableDeleteOutcome.InUse, await t.Broker.DeleteDurableAsync("k1", "orders"));
        Assert.Single(t.Broker.ListDurables("k1"));
    }
}
