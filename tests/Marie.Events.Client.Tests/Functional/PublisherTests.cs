using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Tests.Functional;

/// <summary>Publishing against the real gateway on loopback.</summary>
public sealed class PublisherTests
{
    [Fact]
    public async Task PublishAsync_EventWithoutId_GetsIdAndSequence()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        var evt = Gateways.Event("pub");

        var first = await client.PublishAsync(evt);
        var second = await client.PublishAsync(Gateways.Event("pub", id: "given-id"));

        Assert.Matches("^[0-9a-f]{32}$", first.Id);
        Assert.Equal("", evt.Id);
        Assert.Equal(("pub", 1L), (first.Topic, first.SequenceNum));
        Assert.Equal(("given-id", 2L), (second.Id, second.SequenceNum));
    }

    [Fact]
    public async Task PublishBatchAsync_MoreThanTheWindow_AllFiledInOrder()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway, configure: o => o.PublishWindow = 8);

        var receipts = await client.PublishBatchAsync(
            Enumerable.Range(0, 300).Select(i => Gateways.Event(i % 2 == 0 ? "even" : "odd")));

        Assert.Equal(300, receipts.Count);
        Assert.Equal(
            Enumerable.Range(1, 150).Select(i => (long)i),
            receipts.Where(r => r.Topic == "even").Select(r => r.SequenceNum));
        Assert.Equal(300, Gateways.Stats(gateway).EventsPublished);
        Assert.Equal(300, client.Statistics.EventsPublished);
    }

    [Fact]
    public async Task PublishStreamAsync_InvalidEventMidway_ThrowsWithReceiptsOfThoseBefore()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway);
        var events = new[]
        {
            Gateways.Event("s"),
            Gateways.Event("s"),
            new EventData { Event = "no.topic" },
            Gateways.Event("s"),
        };

        var error = await Assert.ThrowsAsync<PublishException>(() => client.PublishBatchAsync(events));

        Assert.Equal(2, error.Published);
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, error.Status);
        Assert.Contains("request 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PublishAsync_SubscriberKey_PermissionDeniedAsAuthenticationError()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var client = Gateways.Client(gateway, gateway.Keys.Subscriber);

        var error = await Assert.ThrowsAsync<EventStreamAuthenticationException>(
            () => client.PublishAsync(Gateways.Event("x")));

        Assert.Equal(Grpc.Core.StatusCode.PermissionDenied, error.Status);
    }

    [Fact]
    public async Task PublishAsync_FirstAddressDown_FailsOverToNext()
    {
        await using var gateway = await Gateways.StartAsync();
        await using var proxy = new TcpChaosProxy(gateway.Ports.Grpc);
        var deadPort = proxy.Port;
        await proxy.DisposeAsync();
        await using var client = Gateways.Client(gateway, configure: o =>
        {
            o.Addresses.Clear();
            o.Addresses.Add(new Uri($"http://127.0.0.1:{deadPort}"));
            o.Addresses.Add(new Uri($"http://127.0.0.1:{gateway.Ports.Grpc}"));
        });

        var receipt = await client.PublishAsync(Gateways.Event("failover"));

        Assert.Equal(1, receipt.SequenceNum);
    }
}
