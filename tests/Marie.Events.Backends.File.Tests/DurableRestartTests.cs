using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Backends.File.Tests;

/// <summary>Durable subscriptions on the file backend: their state is in the database and survives a restart.
/// </summary>
public sealed class DurableRestartTests
{
    private static async Task<BrokerConnection> SubscribeDurableAsync(Node node, string id)
    {
        var connection = node.Broker.Connect(null, Broker.Access.ConnectionAccess.All, "k1");
        var request = new SubscribeRequest { SubscriptionId = id, DurableName = "orders" };
        request.Topics.Add("a");
        await connection.HandleAsync(new ClientMessage { Subscribe = request });
        return connection;
    }

    private static List<ServerMessage> Drain(BrokerConnection connection)
    {
        var messages = new List<ServerMessage>();
        var frame = new OutboundFrame();
        while (connection.TryReadFrame(frame))
        {
            messages.Add(frame.ToMessage());
        }

        return messages;
    }

    private static List<EventEnvelope> Events(BrokerConnection connection) =>
        [.. Drain(connection).Where(m => m.MessageCase == ServerMessage.MessageOneofCase.Event).Select(m => m.Event)];

    [Fact]
    public async Task Durable_RestartOnSameFolder_ResumesWithExactlyTheUnacknowledgedNoGap()
    {
        using var folder = new TempFolder();
        await using (var node = await Node.StartAsync(folder.Path))
        {
            var connection = await SubscribeDurableAsync(node, "s1");
            await node.PublishAsync("a", 1, 6);
            var events = Events(connection);
            Assert.Equal([1L, 2, 3, 4, 5, 6], events.Select(e => e.SequenceNum));
            var ack = new IndividualAck();
            ack.AckIds.AddRange([events[0].AckId, events[1].AckId, events[3].AckId]);
            await connection.HandleAsync(new ClientMessage { Ack = new AckMessage { Individual = ack } });
            connection.Dispose();
            await node.Broker.FlushDurablesAsync();
        }

        await using var restarted = await Node.StartAsync(folder.Path);
        await restarted.PublishAsync("a", 7, 1);
        var back = await SubscribeDurableAsync(restarted, "s1");

        var messages = Drain(back);
        Assert.DoesNotContain(messages, m => m.MessageCase == ServerMessage.MessageOneofCase.Error);
        var again = messages.Where(m => m.MessageCase == ServerMessage.MessageOneofCase.Event).Select(m => m.Event)
            .ToList();
        Assert.Equal([3L, 5, 6, 7], again.Select(e => e.SequenceNum));
        Assert.Equal(["a-3", "a-5", "a-6", "a-7"], again.Select(e => e.Event.Event));
        Assert.Equal([2, 2, 2, 1], again.Select(e => e.DeliveryAttempt));
        await restarted.PublishAsync("a", 8, 1);
        Assert.Equal([8L], Events(back).Select(e => e.SequenceNum));
    }

    [Fact]
    public async Task DurableStore_SaveLoadDeleteLoadAll_RoundTripsPerKeyAndName()
    {
        using var folder = new TempFolder();
        await using var node = await Node.StartAsync(folder.Path);
        var store = node.Backend;
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        var one = new Broker.Storage.DurableSnapshot("k1", "orders", "g", at,
            [new Broker.Storage.DurableTopicSnapshot("a", "e1", 3, 7, [new(4, 2), new(6, 1)])]);
        var other = one with { Key = "k2", Group = "" };

        await store.SaveAsync(one, CancellationToken.None);
        await store.SaveAsync(other, CancellationToken.None);
        await store.SaveAsync(one with { LastActiveAt = at.AddSeconds(1) }, CancellationToken.None);

        var loaded = await store.LoadAsync("k1", "orders", CancellationToken.None);
        Assert.NotNull(loaded);
        Assert.Equal(at.AddSeconds(1), loaded.LastActiveAt);
        var topic = Assert.Single(loaded.Topics);
        Assert.Equal((3L, 7L, "e1"), (topic.Acked, topic.Delivered, topic.Epoch));
        Assert.Equal([new Broker.Storage.DurablePending(4, 2), new(6, 1)], topic.Pending);
        Assert.Equal(["k1", "k2"], (await store.LoadAllAsync(CancellationToken.None)).Select(d => d.Key));
        await store.DeleteAsync("k1", "orders", CancellationToken.None);
        Assert.Null(await store.LoadAsync("k1", "orders", CancellationToken.None));
        Assert.Equal("", Assert.Single(await store.LoadAllAsync(CancellationToken.None)).Group);
    }
}
