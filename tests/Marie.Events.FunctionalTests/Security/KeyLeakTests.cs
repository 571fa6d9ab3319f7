using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>No configured raw key in anything the gateway sends or writes.</summary>
public sealed class KeyLeakTests
{
    [Fact]
    public async Task FullSession_DebugLogs_NoConfiguredRawKeyAnywhere()
    {
        KeySpec[] keys =
        [
            new("tenant", ["subscriber"]),
            new("hashed", ["subscriber"], Hashed: true),
            new("pub", ["publisher"], ["*"]),
            new("admin", ["admin"]),
            new("off", ["subscriber"], Enabled: false),
        ];
        await using var t = await TenantGateway.StartAsync(keys, s =>
        {
            s.Environment["MARIE_LOG_LEVEL"] = "DEBUG";
            s.Config["toast:grpc:broker:heartbeat_interval_s"] = "0.2";
            s.Config["toast:grpc:broker:ack_timeout_s"] = "0.3";
            s.Config["toast:grpc:broker:redelivery_delay_s"] = "0.1";
        });
        using var capture = new CapturingHandler();
        using var channel = GrpcChannel.ForAddress(
            $"http://127.0.0.1:{t.Gateway.Ports.Grpc}",
            new GrpcChannelOptions { HttpHandler = capture });
        var streams = new EventStreamService.EventStreamServiceClient(channel);
        var publisher = new EventPublisherService.EventPublisherServiceClient(channel);
        var texts = new List<string>();
        string Raw(string name) => t.KeyOf(name);

        // A tenant subscribes with its raw key as topic, with a resume point and an old epoch under that key.
        using var tenant = streams.StreamEvents(GatewayFixture.Auth(Raw("tenant")));
        var resume = new SubscribeRequest { SubscriptionId = "own", Topics = { Raw("tenant") }, LastSequenceNum = 0 };
        resume.ResumeFrom[Raw("tenant")] = 0;
        resume.TopicEpochs[Raw("tenant")] = "0000000000000000";
        texts.Add((await SecurityStreams.SubscribeAsync(tenant, resume)).ToString());
        texts.Add((await SecurityStreams.SubscribeAsync(tenant, "all", "*")).ToString());
        texts.Add((await SecurityStreams.SubscribeAsync(tenant, "foreign", Raw("hashed"))).ToString());
        texts.Add((await SecurityStreams.SubscribeAsync(tenant, "hidden", "hashed")).ToString());
        await tenant.RequestStream.WriteAsync(new ClientMessage());

        // Producers put tenants' raw keys in api_key, unary and streamed; one key is disabled, one is hashed.
        foreach (var name in new[] { "tenant", "hashed", "off" })
        {
            var reply = await publisher.PublishAsync(
                new PublishRequest { Event = SecurityStreams.Event(Raw(name)) },
                GatewayFixture.Auth(Raw("pub")));
            Assert.Equal(name, reply.Topic);
        }

        using (var stream = publisher.PublishStream(GatewayFixture.Auth(Raw("pub"))))
        {
            await stream.RequestStream.WriteAsync(new PublishRequest { Event = SecurityStreams.Event(Raw("tenant")) });
            await stream.RequestStream.CompleteAsync();
            await foreach (var reply in stream.ResponseStream.ReadAllAsync())
            {
                texts.Add(reply.ToString());
            }
        }

        // Deliveries, a redelivery (no ack), heartbeats, then an ack.
        var first = await Streams.NextAsync(tenant.ResponseStream, MessageOneofCase.Event);
        var redelivery = await Streams.ReadUntilAsync(tenant.ResponseStream, m => m.Event?.DeliveryAttempt > 1);
        var heartbeat = await Streams.NextAsync(tenant.ResponseStream, MessageOneofCase.Heartbeat);
        texts.AddRange([first.ToString(), redelivery.ToString(), heartbeat.ToString()]);
        Assert.Equal("tenant", first.Event.Event.ApiKey);
        Assert.Contains("tenant", heartbeat.Heartbeat.TopicHeads.Keys);
        await tenant.RequestStream.WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "own",
                Cumulative = new CumulativeAck { Topic = Raw("tenant"), UpToSequenceNum = 100 },
            },
        });

        // The hashed key streams with its own raw key as topic; replay by raw key.
        using var hashed = streams.StreamEvents(GatewayFixture.Auth(Raw("hashed")));
        var hashedConfirm = await SecurityStreams.SubscribeAsync(
            hashed,
            new SubscribeRequest { SubscriptionId = "h", Topics = { Raw("hashed") }, ReplayCount = 5 });
        var replayed = await Streams.NextAsync(hashed.ResponseStream, MessageOneofCase.Event);
        var replay = await streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = Raw("tenant") },
            GatewayFixture.Auth(Raw("tenant")));
        texts.AddRange([hashedConfirm.ToString(), replayed.ToString(), replay.ToString()]);
        Assert.Equal(["hashed"], hashedConfirm.SubscriptionConfirm.Topics);

        // Refusals: a disabled key, another tenant's key as a replay topic, an unknown key as api_key.
        texts.Add((await Assert.ThrowsAsync<RpcException>(() =>
            streams.GetReplayBufferAsync(
                new ReplayRequest { Topic = "off" },
                GatewayFixture.Auth(Raw("off"))).ResponseAsync)).ToString());
        texts.Add((await Assert.ThrowsAsync<RpcException>(() =>
            streams.GetReplayBufferAsync(
                new ReplayRequest { Topic = Raw("hashed") },
                GatewayFixture.Auth(Raw("tenant"))).ResponseAsync)).ToString());
        texts.Add((await Assert.ThrowsAsync<RpcException>(() =>
            publisher.PublishAsync(
                new PublishRequest { Event = SecurityStreams.Event(Raw("admin")) },
                GatewayFixture.Auth(Raw("tenant"))).ResponseAsync)).ToString());

        // The admin API.
        foreach (var path in new[] { "/internal/stats", "/internal/keys" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new("Bearer", Raw("admin"));
            using var response = await t.Gateway.Admin.SendAsync(request);
            texts.Add(response.ToString());
            texts.Add(await response.Content.ReadAsStringAsync());
        }

        await tenant.RequestStream.CompleteAsync();
        await hashed.RequestStream.CompleteAsync();
        tenant.Dispose();
        hashed.Dispose();
        await t.Gateway.Logs.WaitForAsync(e => e.EventId.Id == 1002, GatewayFixture.Timeout);

        var sent = capture.Snapshot();
        var logs = t.Gateway.Logs.Entries.Select(e => $"{e.Category} {e.Level} {e.EventId} {e.Message}").ToList();
        Assert.Contains(logs, l => l.Contains(" Debug ", StringComparison.Ordinal)); // Debug lines were captured
        Assert.True(sent.Length > 1000, $"captured only {sent.Length} bytes");
        foreach (var key in keys)
        {
            var raw = Encoding.UTF8.GetBytes(key.Key);
            Assert.True(sent.AsSpan().IndexOf(raw) < 0, $"the raw key of '{key.Name}' was sent by the gateway");
            Assert.DoesNotContain(texts, text => text.Contains(key.Key, StringComparison.Ordinal));
            Assert.DoesNotContain(logs, line => line.Contains(key.Key, StringComparison.Ordinal));
            Assert.DoesNotContain(key.Key, t.Gateway.Console.ToString(), StringComparison.Ordinal);
        }
    }
}
