using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests;

/// <summary>StreamEvents end to end through the real broker (these wait for the broker to land).</summary>
public sealed class EventStreamTests
{
    [Fact]
    public async Task StreamEvents_SubscribePublishAck_ReceivesConfirmEventAndAckSettles()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-1", "tenant-a"));
        var confirm = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        Assert.Equal("sub-1", confirm.SubscriptionConfirm.SubscriptionId);

        var published = await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("tenant-a") },
            GatewayFixture.Auth(gateway.Keys.Publisher));
        var delivered = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);

        Assert.Equal(published.Id, delivered.Event.Event.Id);
        Assert.Equal(1, delivered.Event.SequenceNum);
        Assert.Equal(1, delivered.Event.DeliveryAttempt);
        Assert.Equal("sub-1", delivered.Event.SubscriptionId);

        await call.RequestStream.WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "sub-1",
                Individual = new IndividualAck { AckIds = { delivered.Event.AckId } },
            },
        });
        // Messages are handled in order: once a later subscribe is confirmed, the ack before it was processed.
        await call.RequestStream.WriteAsync(Streams.Subscribe("probe", "tenant-a"));
        await Streams.ReadUntilAsync(call.ResponseStream, m => m.SubscriptionConfirm?.SubscriptionId == "probe");

        using var stats = await gateway.GetStatsAsync(gateway.Keys.Admin);
        var json = await stats.Content.ReadAsStringAsync();
        Assert.Contains("\"in_flight_events\":0", json, StringComparison.Ordinal);
        Assert.Contains("\"events_acked\":1", json, StringComparison.Ordinal);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_RequestStreamCompleted_KeepsDeliveringEvents()
    {
        // DEBUG: the gateway logs (1004) when it sees the request stream complete; the test waits for that.
        await using var gateway = await GatewayFixture.StartAsync(s => s.Environment["MARIE_LOG_LEVEL"] = "DEBUG");
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-1", "*"));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);

        await call.RequestStream.CompleteAsync();
        await gateway.Logs.WaitForAsync(e => e.EventId.Id == 1004, GatewayFixture.Timeout);
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("tenant-b") },
            GatewayFixture.Auth(gateway.Keys.Publisher));

        var delivered = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
        Assert.Equal("tenant-b", delivered.Event.Event.ApiKey);
    }

    [Fact]
    public async Task StreamEvents_ShortHeartbeatInterval_ReceivesServerHeartbeatWithUnixSecondsAndTopicHeads()
    {
        await using var gateway = await GatewayFixture.StartAsync(
            s => s.Config["toast:grpc:broker:heartbeat_interval_s"] = "0.2");
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("tenant-h") },
            GatewayFixture.Auth(gateway.Keys.Publisher));
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-1", "tenant-h"));

        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var heartbeat = await Streams.NextAsync(
            call.ResponseStream,
            MessageOneofCase.Heartbeat,
            TimeSpan.FromSeconds(5));
        var after = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        // Unix seconds, as Marie-AI's server sends.
        Assert.InRange(heartbeat.Heartbeat.Timestamp, before - 1, after);
        Assert.Equal(1, heartbeat.Heartbeat.TopicHeads["tenant-h"]);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_NoAck_RedeliveredWithSameAckIdAndNextAttempt()
    {
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:broker:ack_timeout_s"] = "0.3";
            s.Config["toast:grpc:broker:redelivery_delay_s"] = "0.1";
        });
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-1", "tenant-r"));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("tenant-r") },
            GatewayFixture.Auth(gateway.Keys.Publisher));

        var first = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
        var second = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event, TimeSpan.FromSeconds(5));

        Assert.Equal(1, first.Event.DeliveryAttempt);
        Assert.Equal(2, second.Event.DeliveryAttempt);
        Assert.Equal(first.Event.AckId, second.Event.AckId);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_EmptyClientMessage_ErrorMessageOnStream()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));

        await call.RequestStream.WriteAsync(new ClientMessage());
        var error = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Error);

        Assert.Equal(ErrorCode.ErrorInvalidRequest, error.Error.Code);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_ClientCancels_ConnectionOpenedAndClosedLogged()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var cts = new CancellationTokenSource();
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber, cts.Token));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-1", "tenant-c"));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        var opened = await gateway.Logs.WaitForAsync(e => e.EventId.Id == 1001, GatewayFixture.Timeout);
        var id = opened.Message["New event stream connection: ".Length..];

        await cts.CancelAsync();

        await gateway.Logs.WaitForAsync(e => e.Message == $"Connection closed: {id}", GatewayFixture.Timeout);
        Assert.DoesNotContain(gateway.Logs.Entries, e => e.EventId.Id == 1003); // no stream failure
    }

    [Fact]
    public async Task StreamEvents_GatewayStopping_StreamEndsUnavailable()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("sub-1", "tenant-s"));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);

        gateway.App.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();

        using var cts = new CancellationTokenSource(GatewayFixture.Timeout);
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
                // Heartbeats may arrive before the end.
            }
        });
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }
}
