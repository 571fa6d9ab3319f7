using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Broker.Tests;

/// <summary>One holder per durable across gateways sharing a store: the lease taken before the state is read, given
/// back after it is saved, renewed every third of its TTL, lost (members closed), and another gateway's lease
/// refusing the subscribe. Lease TTL 3 s here: renewals every second.</summary>
public sealed class DurableLeaseTests
{
    private const int TtlMs = 3_000;

    private static (TestBroker Broker, FakeDurableLeaseStore Store) NewBroker(string holder = "gw-a")
    {
        var store = new FakeDurableLeaseStore(holder);
        var t = DurableTests.NewBroker(o => o.Durable.LeaseTtlMs = TtlMs, store);
        store.Clock = t.Time;
        return (t, store);
    }

    private static Task<Connections.BrokerConnection> JoinAsync(TestBroker t, string id = "s1", string group = "") =>
        DurableTests.JoinAsync(t, "k1", DurableTests.Durable(id, "orders", group));

    [Fact]
    public async Task Subscribe_SharedStore_LeaseTakenBeforeTheStateIsRead()
    {
        var (t, store) = NewBroker();
        using var _ = t;

        var connection = await JoinAsync(t);

        Assert.Single(connection.All().Confirms());
        Assert.Equal(["acquire", "load"], store.Calls);
        Assert.Equal("gw-a", store.HolderOf("k1", "orders"));
    }

    [Fact]
    public async Task LastStreamEnds_StateSavedThenLeaseGivenBack()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var connection = await JoinAsync(t);
        t.PublishMany("a", 2);
        Assert.Equal(2, connection.All().Events().Count);

        connection.Dispose();

        var calls = store.Calls;
        Assert.Equal("release", calls[^1]);
        Assert.Equal("save", calls[^2]);
        Assert.Null(store.HolderOf("k1", "orders"));
        var pending = Assert.Single(Assert.Single(await store.State.LoadAllAsync(CancellationToken.None)).Topics);
        Assert.Equal([1L, 2], pending.Pending.Select(p => p.Sequence));
    }

    [Fact]
    public async Task GroupMembers_OneLeavesOfTwo_LeaseKeptUntilTheLast()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var one = await JoinAsync(t, "s1", "workers");
        var two = await JoinAsync(t, "s2", "workers");
        Assert.Equal(1, store.Count("acquire"));

        one.Dispose();
        Assert.Equal(0, store.Count("release"));
        Assert.Equal("gw-a", store.HolderOf("k1", "orders"));
        two.Dispose();

        Assert.Equal(1, store.Count("release"));
    }

    [Fact]
    public async Task Renewal_EveryThirdOfTheTtl_WhileHeldAndNotAfter()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var connection = await JoinAsync(t);

        t.Advance(TimeSpan.FromMilliseconds(TtlMs / 3 - 10));
        Assert.Equal(0, store.Count("renew"));
        t.Advance(TimeSpan.FromMilliseconds(10));
        Assert.Equal(1, store.Count("renew"));
        t.Advance(TimeSpan.FromMilliseconds(TtlMs * 2));
        Assert.Equal(7, store.Count("renew"));
        Assert.Equal("gw-a", store.HolderOf("k1", "orders"));

        connection.Dispose();
        t.Advance(TimeSpan.FromMilliseconds(TtlMs));
        Assert.Equal(7, store.Count("renew"));
    }

    [Fact]
    public async Task Renewal_LeaseNowAnotherGateways_MembersClosedWithLeaseLostAndNothingDelivered()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var connection = await JoinAsync(t);
        t.Publish("a");
        Assert.Single(connection.All().Events());

        store.GiveTo("k1", "orders", "gw-b", TimeSpan.FromMilliseconds(TtlMs));
        t.Advance(TimeSpan.FromMilliseconds(TtlMs / 3));
        var saves = store.Count("save");
        t.Publish("a");

        var messages = connection.All();
        var error = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorDurableConflict, error.Code);
        Assert.Equal("s1", error.SubscriptionId);
        Assert.Equal("lease_lost", error.Details["reason"]);
        Assert.Contains("closed on this gateway", error.Message, StringComparison.Ordinal);
        Assert.Empty(messages.Events());
        Assert.Contains(t.Logs.AtLevel(LogLevel.Warning), e => e.Message.Contains("lost its lease"));
        // Never saved after the loss: gw-b's state is not overwritten.
        t.Advance(TimeSpan.FromMilliseconds(TtlMs));
        Assert.Equal(saves, store.Count("save"));
        Assert.Equal(0, store.Count("release"));
    }

    [Fact]
    public async Task Renewal_StoreFailsOnce_SurvivedAndTheSecondFailureEndsTheMembers()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var connection = await JoinAsync(t);
        connection.All();

        store.Failing = true;
        t.Advance(TimeSpan.FromMilliseconds(TtlMs / 3));
        Assert.Empty(connection.All().Errors());
        Assert.Contains(t.Logs.AtLevel(LogLevel.Warning), e => e.Message.Contains("renewing its lease failed"));

        t.Advance(TimeSpan.FromMilliseconds(TtlMs / 3));

        var error = Assert.Single(connection.All().Errors());
        Assert.Equal("lease_lost", error.Details["reason"]);
    }

    [Fact]
    public async Task Renewal_StoreBackAfterOneFailure_KeepsDelivering()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var connection = await JoinAsync(t);
        connection.All();

        store.Failing = true;
        t.Advance(TimeSpan.FromMilliseconds(TtlMs / 3));
        store.Failing = false;
        t.Advance(TimeSpan.FromMilliseconds(TtlMs * 2));
        t.Publish("a");

        var messages = connection.All();
        Assert.Empty(messages.Errors());
        Assert.Single(messages.Events());
    }

    [Fact]
    public async Task Subscribe_HeldByAnotherGateway_ConflictNamingItAndTheStreamStaysUp()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        store.GiveTo("k1", "orders", "gw-b", TimeSpan.FromMilliseconds(2_500));

        var connection = await JoinAsync(t, "s1", "workers");

        var error = Assert.Single(connection.All().Errors());
        Assert.Equal(ErrorCode.ErrorDurableConflict, error.Code);
        Assert.Equal("gw-b", error.Details["holder"]);
        Assert.Equal("held_by_another_gateway", error.Details["reason"]);
        Assert.Contains("held by another gateway, 'gw-b'", error.Message, StringComparison.Ordinal);
        Assert.Contains("must all use one gateway", error.Message, StringComparison.Ordinal);
        Assert.Contains("within 2500 ms", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("load", store.Calls);
        await connection.HandleAsync(Msg.Subscribe("plain", "a"));
        t.Publish("a");
        var after = connection.All();
        Assert.Single(after.Confirms());
        Assert.Single(after.Events());
    }

    [Fact]
    public async Task Subscribe_AnotherGatewaysLeaseExpired_TakenAndTheSavedStateResumed()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var first = await JoinAsync(t);
        t.PublishMany("a", 3);
        var events = first.All().Events();
        await first.HandleAsync(Msg.Ack("s1", events[0].AckId));
        first.Dispose();
        // Another gateway held it, then crashed without giving the lease back.
        store.GiveTo("k1", "orders", "gw-b", TimeSpan.FromMilliseconds(TtlMs));
        var refused = await JoinAsync(t, "s2");
        Assert.Single(refused.All().Errors());

        t.Advance(TimeSpan.FromMilliseconds(TtlMs));
        var taken = await JoinAsync(t, "s3");

        Assert.Equal([2L, 3], taken.All().Events().Seqs());
        Assert.Equal("gw-a", store.HolderOf("k1", "orders"));
    }

    [Fact]
    public async Task Subscribe_StoreAway_RefusedAsUnavailableAndNoLeaseKept()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        store.Failing = true;

        var connection = await JoinAsync(t);

        var error = Assert.Single(connection.All().Errors());
        Assert.Equal(ErrorCode.ErrorDurableConflict, error.Code);
        Assert.Equal("lease_unavailable", error.Details["reason"]);
        Assert.Empty(t.Broker.ListDurables("k1"));
    }

    [Fact]
    public async Task LastStreamEnds_SaveFails_LeaseKeptUntilTheStopSavesThenGivesItBack()
    {
        var (t, store) = NewBroker();
        using var _ = t;
        var connection = await JoinAsync(t);
        t.Publish("a");
        connection.All();
        store.SaveFailing = true;

        connection.Dispose();
        Assert.Equal("gw-a", store.HolderOf("k1", "orders"));
        Assert.Equal(0, store.Count("release"));
        store.SaveFailing = false;
        await t.Broker.FlushDurablesAsync();

        Assert.Null(store.HolderOf("k1", "orders"));
        Assert.Equal(["save", "release"], store.Calls.TakeLast(2));
        Assert.Single(Assert.Single(Assert.Single(await store.State.LoadAllAsync(CancellationToken.None)).Topics)
            .Pending);
    }

    [Fact]
    public void Validate_LeaseTtlUnderASecond_NamesTheKey()
    {
        var options = new BrokerOptions();
        options.Durable.LeaseTtlMs = 999;

        var problem = options.Validate();

        Assert.Equal("durable.lease_ttl_ms", problem?.Key);
        Assert.Contains("1000", problem?.Message, StringComparison.Ordinal);
    }
}
