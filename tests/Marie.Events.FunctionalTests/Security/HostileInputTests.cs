using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>Every malformed or hostile input gets a clear answer and leaves the gateway healthy for the
/// others.</summary>
public sealed class HostileInputTests
{
    /// <summary>HTTP/2 frame types and error codes (RFC 9113).</summary>
    private const byte SettingsFrame = 0x4;
    private const byte GoAwayFrame = 0x7;
    private const uint FrameSizeError = 0x6;
    private const uint ProtocolError = 0x1;

    private static async Task AssertServingAsync(GatewayFixture gateway)
    {
        var health = await new Health.HealthClient(gateway.Channel).CheckAsync(
            new HealthCheckRequest(),
            deadline: DateTime.UtcNow.Add(GatewayFixture.Timeout));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        var published = await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("after") },
            GatewayFixture.Auth(gateway.Keys.Publisher));
        Assert.True(published.SequenceNum > 0);
    }

    private static async Task<JsonElement> StatsAsync(GatewayFixture gateway)
    {
        using var response = await gateway.GetStatsAsync(gateway.Keys.Admin);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task StreamEvents_UnknownDuplicateAndForeignIds_ClearErrorsAndNothingSettled()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var a = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        using var b = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.User));
        await SecurityStreams.SubscribeAsync(a, "s", "hostile");
        await SecurityStreams.SubscribeAsync(b, "s", "hostile");
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("hostile") },
            GatewayFixture.Auth(gateway.Keys.Publisher));
        var ofA = await Streams.NextAsync(a.ResponseStream, MessageOneofCase.Event);
        await Streams.NextAsync(b.ResponseStream, MessageOneofCase.Event);

        var duplicate = await SecurityStreams.SubscribeAsync(b, "s", "other");
        await b.RequestStream.WriteAsync(
            new ClientMessage { Unsubscribe = new UnsubscribeRequest { SubscriptionId = "nope" } });
        var unknownUnsubscribe = await Streams.NextAsync(b.ResponseStream, MessageOneofCase.Error);
        await b.RequestStream.WriteAsync(
            new ClientMessage { FilterUpdate = new FilterUpdate { SubscriptionId = "nope" } });
        var unknownFilter = await Streams.NextAsync(b.ResponseStream, MessageOneofCase.Error);
        // A's ack id on B's stream, with B's subscription id and without: it settles nothing of A's.
        await b.RequestStream.WriteAsync(
            new ClientMessage
            {
                Ack = new AckMessage
                {
                    SubscriptionId = "s",
                    Individual = new IndividualAck { AckIds = { ofA.Event.AckId, "garbage", "" } },
                },
            });
        await b.RequestStream.WriteAsync(
            new ClientMessage
            {
                Ack = new AckMessage { Individual = new IndividualAck { AckIds = { ofA.Event.AckId } } },
            });
        var probe = await SecurityStreams.SubscribeAsync(b, "probe", "hostile");
        var stats = await StatsAsync(gateway);

        Assert.Equal(ErrorCode.ErrorInvalidSubscription, duplicate.Error.Code);
        Assert.Equal(ErrorCode.ErrorInvalidSubscription, unknownUnsubscribe.Error.Code);
        Assert.Equal(ErrorCode.ErrorInvalidSubscription, unknownFilter.Error.Code);
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, probe.MessageCase);
        Assert.Equal(2, stats.GetProperty("in_flight_events").GetInt64()); // A's and B's deliveries, neither settled
        Assert.Equal(0, stats.GetProperty("events_acked").GetInt64());
        await a.RequestStream.CompleteAsync();
        await b.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_NegativeAndHugeSequenceNumbers_AnsweredAndStreamUsable()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("seq") },
            GatewayFixture.Auth(gateway.Keys.Publisher));
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));

        var negative = await SecurityStreams.SubscribeAsync(
            call,
            new SubscribeRequest { SubscriptionId = "n", Topics = { "seq" }, LastSequenceNum = -5 });
        var negativeCount = await SecurityStreams.SubscribeAsync(
            call,
            new SubscribeRequest { SubscriptionId = "c", Topics = { "seq" }, ReplayCount = int.MinValue });
        var huge = await SecurityStreams.SubscribeAsync(
            call,
            new SubscribeRequest { SubscriptionId = "h", Topics = { "seq" }, LastSequenceNum = long.MaxValue });
        var epochChanged = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Error);
        var replayed = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
        await call.RequestStream.WriteAsync(
            new ClientMessage
            {
                Ack = new AckMessage
                {
                    SubscriptionId = "h",
                    Cumulative = new CumulativeAck { Topic = "seq", UpToSequenceNum = long.MinValue },
                },
            });
        await call.RequestStream.WriteAsync(
            new ClientMessage
            {
                Ack = new AckMessage
                {
                    SubscriptionId = "h",
                    Cumulative = new CumulativeAck { Topic = "seq", UpToSequenceNum = long.MaxValue },
                },
            });
        var replay = await Assert.ThrowsAsync<RpcException>(() => gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "seq", FromSequenceNum = long.MinValue }, GatewayFixture.Auth(
                gateway.Keys.Subscriber)).ResponseAsync);
        var fromHuge = await gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "seq", FromSequenceNum = long.MaxValue },
            GatewayFixture.Auth(gateway.Keys.Subscriber));
        var probe = await SecurityStreams.SubscribeAsync(call, "probe", "seq");

        Assert.Equal(ErrorCode.ErrorInvalidRequest, negative.Error.Code);
        Assert.Equal(ErrorCode.ErrorInvalidRequest, negativeCount.Error.Code);
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, huge.MessageCase);
        Assert.Equal(ErrorCode.ErrorEpochChanged, epochChanged.Error.Code);
        Assert.Equal(1, replayed.Event.SequenceNum);
        Assert.Equal(StatusCode.InvalidArgument, replay.StatusCode);
        Assert.Empty(fromHuge.Events);
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, probe.MessageCase);
        Assert.Equal(0, (await StatsAsync(gateway)).GetProperty("in_flight_events").GetInt64());
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task RawConnection_GarbageBytes_ConnectionClosedGatewayServes()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", gateway.Ports.Grpc);
        var stream = client.GetStream();

        await stream.WriteAsync(RandomNumberGenerator.GetBytes(4096));
        var closed = await ReadUntilClosedAsync(stream);

        Assert.True(closed, "the gateway kept a connection that sent garbage");
        await AssertServingAsync(gateway);
    }

    [Fact]
    public async Task RawConnection_OversizedFrame_GoAwayFrameSizeErrorGatewayServes()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", gateway.Ports.Grpc);
        var stream = client.GetStream();

        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray());
        await stream.WriteAsync(FrameHeader(0, SettingsFrame, 0, 0));
        // A HEADERS frame announcing 16 MiB - 1 of payload: far over the 16 KiB frame size the server allows.
        await stream.WriteAsync(FrameHeader(0xFF_FFFF, 0x1, 0x4, 1));
        await stream.WriteAsync(new byte[1024]);
        var goAway = await ReadGoAwayAsync(stream);

        Assert.True(goAway is FrameSizeError or ProtocolError, $"GOAWAY error code {goAway}");
        await AssertServingAsync(gateway);
    }

    [Fact]
    public async Task StreamEvents_ClientThatNeverReads_MemoryBoundedOthersGetEverything()
    {
        const int maxInFlight = 5;
        const int events = 100;
        await using var gateway = await GatewayFixture.StartAsync(
            s => s.Config["toast:grpc:broker:max_in_flight"] =
                maxInFlight.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var stuckCancel = new CancellationTokenSource();
        using var stuck = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber, stuckCancel.Token));
        await SecurityStreams.SubscribeAsync(stuck, "stuck", "never-read");
        using var reader = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.User));
        await SecurityStreams.SubscribeAsync(reader, "reader", "never-read");

        // Large events fill the stuck stream's flow-control window; then thousands of messages whose answers it never
        // reads.
        var payload = new Struct { Fields = { ["blob"] = Value.ForString(new string('x', 16 * 1024)) } };
        for (var i = 0; i < events; i++)
        {
            var evt = Streams.Event("never-read");
            evt.Payload = payload;
            await gateway.Publisher.PublishAsync(
                new PublishRequest { Event = evt },
                GatewayFixture.Auth(gateway.Keys.Publisher));
        }

        var flood = Task.Run(async () =>
        {
            for (var i = 0; i < 5000 && !stuckCancel.IsCancellationRequested; i++)
            {
                await stuck.RequestStream.WriteAsync(new ClientMessage(), stuckCancel.Token);
            }
        });
        var received = new HashSet<long>();
        while (received.Count < events)
        {
            var delivered = await Streams.NextAsync(reader.ResponseStream, MessageOneofCase.Event);
            received.Add(delivered.Event.SequenceNum);
            await reader.RequestStream.WriteAsync(
                new ClientMessage
                {
                    Ack = new AckMessage { Individual = new IndividualAck { AckIds = { delivered.Event.AckId } } },
                });
        }

        // The stuck stream's gateway side stops reading once 256 answers wait: its queue stops growing there.
        await TenantGateway.WaitForAsync(
            async () => (await StatsAsync(gateway)).GetProperty("queued_replies").GetInt64() >= 256,
            "the stuck stream's answers to pile up");
        // The reader's last acks may still be on their way: wait for them; the stuck stream's own in-flight events
        // stay at most max_in_flight (+1), else this wait times out.
        await TenantGateway.WaitForAsync(
            async () => (await StatsAsync(gateway)).GetProperty("in_flight_events").GetInt64() <= maxInFlight + 1,
            "in-flight events to be bounded by the stuck stream's max_in_flight");
        var stats = await StatsAsync(gateway);

        Assert.InRange(stats.GetProperty("queued_replies").GetInt64(), 256, 257);
        Assert.InRange(stats.GetProperty("in_flight_events").GetInt64(), 0, maxInFlight + 1);
        Assert.Equal(events, received.Count);
        await AssertServingAsync(gateway);
        await stuckCancel.CancelAsync();
        await TenantGateway.WaitForAsync(
            async () => await StatsAsync(gateway) is var s
                && s.GetProperty("connections").GetInt32() == 1
                && s.GetProperty("queued_replies").GetInt64() == 0,
            "the stuck stream to be released");
        await Task.WhenAny(flood);
        await reader.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_ClientDisconnectsMidWrite_StateReleasedOthersUnaffected()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var leaving = GrpcChannel.ForAddress($"http://127.0.0.1:{gateway.Ports.Grpc}");
        var leavingStreams = new EventStreamService.EventStreamServiceClient(leaving);
        var call = leavingStreams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await SecurityStreams.SubscribeAsync(call, "gone", "mid-write");
        using var staying = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.User));
        await SecurityStreams.SubscribeAsync(staying, "stay", "mid-write");
        var payload = new Struct { Fields = { ["blob"] = Value.ForString(new string('y', 64 * 1024)) } };
        for (var i = 0; i < 20; i++)
        {
            var evt = Streams.Event("mid-write");
            evt.Payload = payload;
            await gateway.Publisher.PublishAsync(
                new PublishRequest { Event = evt },
                GatewayFixture.Auth(gateway.Keys.Publisher));
        }

        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
        // Gone without a goodbye while the gateway is still writing its events.
        leaving.Dispose();
        call.Dispose();

        var seen = 0;
        while (seen < 20)
        {
            await Streams.NextAsync(staying.ResponseStream, MessageOneofCase.Event);
            seen++;
        }

        await TenantGateway.WaitForAsync(
            async () => await StatsAsync(gateway) is var s
                && s.GetProperty("connections").GetInt32() == 1
                && s.GetProperty("subscriptions").GetInt32() == 1,
            "the gone client's state to be released");
        Assert.DoesNotContain(gateway.Logs.Entries, e => e.EventId.Id == 1003); // no "stream failed"
        // Only the staying client's events are in flight.
        Assert.Equal(20, (await StatsAsync(gateway)).GetProperty("in_flight_events").GetInt64());
        await AssertServingAsync(gateway);
        await staying.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task BadKeyFlood_ManyConnections_AllRefusedLogBoundedGatewayServes()
    {
        const int connections = 30;
        const int callsPerConnection = 10;
        await using var gateway = await GatewayFixture.StartAsync();
        var clock = Stopwatch.StartNew();

        var attempts = Enumerable.Range(0, connections).Select(async _ =>
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{gateway.Ports.Grpc}");
            var client = new EventStreamService.EventStreamServiceClient(channel);
            var codes = new List<StatusCode>();
            for (var i = 0; i < callsPerConnection; i++)
            {
                using var call = client.StreamEvents(GatewayFixture.Auth(TestKeys.NewKey()));
                var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
                codes.Add(error.StatusCode);
            }

            return codes;
        });
        var results = (await Task.WhenAll(attempts)).SelectMany(c => c).ToList();
        var seconds = (int)Math.Ceiling(clock.Elapsed.TotalSeconds);

        Assert.Equal(connections * callsPerConnection, results.Count);
        Assert.All(results, code => Assert.Equal(StatusCode.Unauthenticated, code));
        var logged = gateway.Logs.Entries.Count(e => e.EventId.Id == 2001);
        Assert.InRange(logged, 1, 10 * (seconds + 1)); // at most 10 a second are written one by one
        await AssertServingAsync(gateway);
        Assert.Equal(0, (await StatsAsync(gateway)).GetProperty("connections").GetInt32());
    }

    private static byte[] FrameHeader(int length, byte type, byte flags, int streamId)
    {
        var header = new byte[9];
        header[0] = (byte)(length >> 16);
        header[1] = (byte)(length >> 8);
        header[2] = (byte)length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(5), streamId);
        return header;
    }

    /// <summary>True once the server closed or reset the connection; false if it stayed open past the
    /// timeout.</summary>
    private static async Task<bool> ReadUntilClosedAsync(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(GatewayFixture.Timeout);
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
                // Whatever the server says before closing (a GOAWAY) is read and dropped.
            }

            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Reads server frames until a GOAWAY; returns its error code.</summary>
    private static async Task<uint> ReadGoAwayAsync(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(GatewayFixture.Timeout);
        var header = new byte[9];
        while (true)
        {
            await stream.ReadExactlyAsync(header, cts.Token);
            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload, cts.Token);
            if (header[3] == GoAwayFrame)
            {
                return BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4));
            }
        }
    }
}
