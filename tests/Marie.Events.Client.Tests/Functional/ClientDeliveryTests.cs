using Marie.Events.Client.Tests.Infrastructure;

namespace Marie.Events.Client.Tests.Functional;

/// <summary>Delivery and acks against the real gateway on loopback.</summary>
public sealed class ClientDeliveryTests
{
    [Fact]
    public async Task AutoAck_ManyEvents_AckedInBatchesAndGatewayInFlightDrains()
    {
        await using var gateway = await Gateways.StartAsync(("max_in_flight", "1000"), ("replay_size", "1000"));
        await using var client = Gateways.Client(gateway, configure: o => o.AckBatchSize = 50);
        await using var subscription = await client.SubscribeAsync(new SubscriptionOptions { Topics = { "batch" } });

        var receipts = await client.PublishBatchAsync(Enumerable.Range(0, 500).Select(_ => Gateways.Event("batch")));
        var received = await Gateways.ReadAsync(subscription, 500);
        await subscription.FlushAcksAsync();
        await Wait.UntilAsync(
            () => Gateways.Stats(gateway) is { InFlightEvents: 0, EventsAcked: 500 },
            "the gateway's in-flight count drains");

        Assert.Equal(Enumerable.Range(1, 500).Select(i => (long)i), received.Select(e => e.SequenceNum));
        Assert.Equal(receipts.Select(r => r.Id), received.Select(e => e.Event.Id));
        var stats = client.Statistics;
        Assert.Equal(500, stats.EventsAcked);
        Assert.True(
            stats.AckMessagesSent <= 500 / 2,
            $"acks are batched: {stats.AckMessagesSent} ack messages for 500 events");
        Assert.Equal(0, stats.DuplicatesDropped);
    }

    [Fact]
    public async Task ManualAck_SomeAcked_OnlyThoseSettleOnGateway()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        await using var subscription = await client.SubscribeAsync(
            new SubscriptionOptions { Topics = { "manual" }, AckMode = AckMode.Manual });
        await client.PublishBatchAsync(Enumerable.Range(0, 10).Select(_ => Gateways.Event("manual")));

        var received = await Gateways.ReadManualAsync(subscription, 10);
        foreach (var e in received.Where(e => e.SequenceNum % 2 == 0))
        {
            await e.AckAsync();
        }

        await subscription.FlushAcksAsync();
        await Wait.UntilAsync(() => Gateways.Stats(gateway).InFlightEvents == 5, "the five acked events settle");
        Assert.Equal(0, subscription.GetResumePoints()["manual"].SequenceNum);

        foreach (var e in received.Where(e => e.SequenceNum % 2 == 1))
        {
            await e.AckAsync();
        }

        await subscription.FlushAcksAsync();
        await Wait.UntilAsync(() => Gateways.Stats(gateway).InFlightEvents == 0, "all settle");
        Assert.Equal(10, subscription.GetResumePoints()["manual"].SequenceNum);
    }

    [Fact]
    public async Task HandlerFails_EventRedeliveredAfterAckTimeoutAndHandedOverAgain()
    {
        await using var gateway = await Gateways.StartAsync(("ack_timeout_s", "0.3"), ("redelivery_delay_s", "0.1"));
        await using var client = Gateways.Client(gateway);
        var attempts = new List<(long Sequence, int Attempt)>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscription = await client.SubscribeAsync(
            new SubscriptionOptions { Topics = { "redeliver" } },
            (e, _) =>
        {
            lock (attempts)
            {
                attempts.Add((e.SequenceNum, e.DeliveryAttempt));
            }

            if (e.DeliveryAttempt == 1)
            {
                throw new InvalidOperationException("the first attempt fails");
            }

            done.TrySetResult();
            return ValueTask.CompletedTask;
        });

        await client.PublishAsync(Gateways.Event("redeliver"));
        await done.Task.WaitAsync(Wait.Timeout);
        await Wait.UntilAsync(
            () => Gateways.Stats(gateway) is { InFlightEvents: 0, EventsAcked: 1 },
            "the redelivered event is acked");

        lock (attempts)
        {
            Assert.Equal(new[] { (1L, 1), (1L, 2) }, attempts);
        }

        Assert.True(Gateways.Stats(gateway).EventsRedelivered >= 1);
    }

    [Fact]
    public async Task ManualAck_NotAcked_RedeliveredAndHandedOverAgain()
    {
        await using var gateway = await Gateways.StartAsync(("ack_timeout_s", "0.3"), ("redelivery_delay_s", "0.1"));
        await using var client = Gateways.Client(gateway);
        await using var subscription = await client.SubscribeAsync(
            new SubscriptionOptions { Topics = { "lease" }, AckMode = AckMode.Manual });
        await client.PublishAsync(Gateways.Event("lease"));

        var both = await Gateways.ReadManualAsync(subscription, 2);
        await both[1].AckAsync();
        await subscription.FlushAcksAsync();
        await Wait.UntilAsync(
            () => Gateways.Stats(gateway).InFlightEvents == 0,
            "the second delivery's ack settles it");

        Assert.Equal((1L, 1), (both[0].SequenceNum, both[0].DeliveryAttempt));
        Assert.Equal((1L, 2), (both[1].SequenceNum, both[1].DeliveryAttempt));
        Assert.Equal(both[0].AckId, both[1].AckId);
    }

    [Fact]
    public async Task Filters_MetadataAndSourceThenFilterUpdate_OnlyMatchingEventsDelivered()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        var options = new SubscriptionOptions { Topics = { "filtered" }, Events = { "extract.*" } };
        options.Filter.MetadataMatch["kind"] = "invoice";
        options.Filter.IncludeSources.Add("job://extract*");
        await using var subscription = await client.SubscribeAsync(options);

        await client.PublishBatchAsync(
        [
            Gateways.Event("filtered", kind: "invoice", id: "match-1"),
            Gateways.Event("filtered", kind: "receipt", id: "other-kind"),
            Gateways.Event("filtered", kind: "invoice", source: "job://classify/1", id: "other-source"),
            Gateways.Event("filtered", name: "classify.completed", kind: "invoice", id: "other-name"),
            Gateways.Event("filtered", kind: "invoice", id: "match-2"),
        ]);
        var first = await Gateways.ReadAsync(subscription, 2);

        var update = new SubscriptionFilter();
        update.MetadataMatch["kind"] = "receipt";
        await subscription.UpdateFilterAsync(update);
        // Messages are handled in order: once a later subscribe is confirmed, the filter update before it applies.
        await using (await client.SubscribeAsync(new SubscriptionOptions { Topics = { "probe" } }))
        {
        }

        await client.PublishBatchAsync(
        [
            Gateways.Event("filtered", kind: "invoice", id: "old-kind"),
            Gateways.Event("filtered", kind: "receipt", source: "anything", id: "match-3"),
        ]);
        var second = await Gateways.ReadAsync(subscription, 1);

        Assert.Equal(new[] { "match-1", "match-2" }, first.Select(e => e.Event.Id));
        Assert.Equal("match-3", Assert.Single(second).Event.Id);
        Assert.Equal("receipt", subscription.Filter.MetadataMatch["kind"]);
    }

    [Fact]
    public async Task TwoSubscriptionsOneStream_EachGetsItsTopics()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        await using var a = await client.SubscribeAsync(new SubscriptionOptions { Topics = { "topic-a" } });
        await using var all = await client.SubscribeAsync(new SubscriptionOptions { Topics = { "*" } });

        await client.PublishAsync(Gateways.Event("topic-a"));
        await client.PublishAsync(Gateways.Event("topic-b"));
        var fromA = await Gateways.ReadAsync(a, 1);
        var fromAll = await Gateways.ReadAsync(all, 2);

        Assert.Equal("topic-a", Assert.Single(fromA).Topic);
        Assert.Equal(new[] { "topic-a", "topic-b" }, fromAll.Select(e => e.Topic).Order());
        Assert.Equal(1, Gateways.Stats(gateway).Connections);
    }
}
