using System.Net.Http.Json;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;

using Marie.Events.FunctionalTests.Toast;

namespace Marie.Events.FunctionalTests;

/// <summary>The Toast pipeline through the real gateway: publishes go registry → gRPC toast handler → broker
/// (a steerable sink around the real broker), and the native handler records them.</summary>
public sealed class ToastPipelineEndToEndTests
{
    [Fact]
    public async Task PublishStream_BrokerFailsForAWhile_EveryEventArrivesOnceInOrder()
    {
        var sink = new SteerableSink { Failing = true };
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:retry:backoff_base_s"] = "0.01";
            s.Config["toast:grpc:retry:backoff_max_s"] = "0.05";
            s.ConfigureServices = sink.Install;
        });
        using var subscriber = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await subscriber.RequestStream.WriteAsync(Streams.Subscribe("tail", "tenant-a"));
        await Streams.NextAsync(subscriber.ResponseStream, ServerMessage.MessageOneofCase.SubscriptionConfirm);

        // 40 events of tenant-a and 10 of tenant-b, interleaved, in one stream; and one unary publish meanwhile.
        var sent = Enumerable.Range(0, 50)
            .Select(i => Event(i % 5 == 4 ? "tenant-b" : "tenant-a", $"evt-{i:D2}"))
            .ToList();
        using var publish = gateway.Publisher.PublishStream(GatewayFixture.Auth(gateway.Keys.Publisher));
        foreach (var evt in sent)
        {
            await publish.RequestStream.WriteAsync(new PublishRequest { Event = evt.Clone() });
        }

        await publish.RequestStream.CompleteAsync();
        var unary = gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Event("tenant-c", "unary") },
            GatewayFixture.Auth(gateway.Keys.Publisher)).ResponseAsync;
        await sink.WaitForFailuresAsync(10);
        Assert.False(unary.IsCompleted);
        sink.Failing = false;

        var responses = new List<PublishResponse>();
        while (await publish.ResponseStream.MoveNext(CancellationToken.None))
        {
            responses.Add(publish.ResponseStream.Current);
        }

        Assert.Equal(sent.Select(e => e.Id), responses.Select(r => r.Id));
        Assert.Equal(
            Enumerable.Range(1, 40).Select(i => (long)i),
            responses.Where(r => r.Topic == "tenant-a").Select(r => r.SequenceNum));
        Assert.Equal(
            Enumerable.Range(1, 10).Select(i => (long)i),
            responses.Where(r => r.Topic == "tenant-b").Select(r => r.SequenceNum));
        Assert.Equal(("tenant-c", 1L), ((await unary).Topic, (await unary).SequenceNum));

        var delivered = new List<EventEnvelope>();
        while (delivered.Count < 40)
        {
            var message = await Streams.NextAsync(subscriber.ResponseStream, ServerMessage.MessageOneofCase.Event);
            delivered.Add(message.Event);
        }

        Assert.Equal(sent.Where(e => e.ApiKey == "tenant-a").Select(e => e.Id), delivered.Select(e => e.Event.Id));
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), delivered.Select(e => e.SequenceNum));
        Assert.All(delivered, e => Assert.Equal(1, e.DeliveryAttempt));
        var stats = gateway.App.Services.GetRequiredService<ToastPipeline>().Stats().Grpc!;
        var broker = gateway.App.Services.GetRequiredService<GrpcEventBroker>().Stats();
        Assert.Equal(51, broker.EventsPublished); // once each: a failed attempt files nothing
        Assert.Equal((51L, 0L, 0L), (stats.EventsPublished, stats.EventsGivenUp, stats.EventsDropped));
        Assert.True(stats.PublishFailures >= 10);
    }

    [Fact]
    public async Task Publish_QueueFullPastEnqueueTimeout_ResourceExhausted()
    {
        var sink = new SteerableSink();
        sink.Hold();
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:queue:maxsize"] = "1";
            s.Config["toast:grpc:queue:enqueue_timeout_s"] = "0.2";
            s.ConfigureServices = sink.Install;
        });
        var first = PublishAsync(gateway, Event("tenant-a", "first"));
        await sink.WaitForHeldAsync(1);

        var error = await Assert.ThrowsAsync<RpcException>(() => PublishAsync(gateway, Event("tenant-a", "second")));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains(
            "not accepted within toast.grpc.queue.enqueue_timeout_s (0.2 s)",
            error.Status.Detail,
            StringComparison.Ordinal);
        sink.Release();
        Assert.Equal(1, (await first).SequenceNum);
    }

    [Fact]
    public async Task Publish_QueueFullDropIfFull_ResourceExhaustedWithTheSeedsWarning()
    {
        var sink = new SteerableSink();
        sink.Hold();
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:queue:maxsize"] = "1";
            s.Config["toast:grpc:queue:drop_if_full"] = "true";
            s.ConfigureServices = sink.Install;
        });
        var first = PublishAsync(gateway, Event("tenant-a", "first"));
        await sink.WaitForHeldAsync(1);

        var error = await Assert.ThrowsAsync<RpcException>(() => PublishAsync(gateway, Event("tenant-a", "dropped")));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.StartsWith(
            "Queue full for toast handler grpc, event dropped",
            error.Status.Detail,
            StringComparison.Ordinal);
        await gateway.Logs.WaitForAsync(
            e => e.EventId.Id == 5010 && e.Message.Contains("dropped", StringComparison.Ordinal),
            GatewayFixture.Timeout);
        sink.Release();
        await first;
        Assert.Equal(1, gateway.App.Services.GetRequiredService<ToastPipeline>().Stats().Grpc!.EventsDropped);
    }

    [Fact]
    public async Task PublishStream_ProducerFasterThanTheBroker_SlowedAndNothingDropped()
    {
        var sink = new SteerableSink();
        sink.Hold();
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:queue:maxsize"] = "4";
            s.ConfigureServices = sink.Install;
        });
        var pipeline = gateway.App.Services.GetRequiredService<ToastPipeline>();
        using var publish = gateway.Publisher.PublishStream(GatewayFixture.Auth(gateway.Keys.Publisher));
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                await publish.RequestStream.WriteAsync(new PublishRequest { Event = Event("tenant-a", $"e{i}") });
            }

            await publish.RequestStream.CompleteAsync();
        });

        // Four fill the queue; the fifth waits for room, and the stream reads no further request meanwhile.
        await Until(() => pipeline.Stats().EventsDispatched == 5, "the fifth event waiting for room");
        Assert.Equal((4, 4L), (pipeline.Stats().Grpc!.QueueDepth, pipeline.Stats().Grpc!.EventsAccepted));
        sink.Release();
        await writing.WaitAsync(GatewayFixture.Timeout);
        var sequences = new List<long>();
        while (await publish.ResponseStream.MoveNext(CancellationToken.None))
        {
            sequences.Add(publish.ResponseStream.Current.SequenceNum);
        }

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), sequences);
        var stats = pipeline.Stats().Grpc!;
        Assert.Equal((0L, 0L, 20L), (stats.EventsDropped, stats.EnqueueTimeouts, stats.EventsPublished));
    }

    [Fact]
    public async Task Publish_BrokerFailsPastMaxAttempts_UnavailableNamingTheEvent()
    {
        var sink = new SteerableSink { Failing = true };
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:retry:backoff_base_s"] = "0.01";
            s.Config["toast:grpc:retry:max_attempts"] = "2";
            s.ConfigureServices = sink.Install;
        });

        var error = await Assert.ThrowsAsync<RpcException>(() => PublishAsync(gateway, Event("tenant-a", "doomed")));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(
            "event doomed not published: dropped after 2 failed publish attempts (broker backend down (scripted))",
            error.Status.Detail);
        await gateway.Logs.WaitForAsync(
            e => e.EventId.Id == 5014
                && e.Message.StartsWith("Event doomed dropped after 2 publish attempts", StringComparison.Ordinal),
            GatewayFixture.Timeout);
    }

    [Fact]
    public async Task Publish_GrpcDisabled_NativeRecordsTheEventAndTheAnswerHasNoSequence()
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.Config["toast:grpc:enabled"] = "false");
        var pipeline = gateway.App.Services.GetRequiredService<ToastPipeline>();

        var reply = await PublishAsync(gateway, Event("tenant-n", "native-only"));

        Assert.Equal(("native-only", "tenant-n", 0L), (reply.Id, reply.Topic, reply.SequenceNum));
        await Until(() => pipeline.Stats().Native!.EventsWritten == 1, "the native line written");
        var line = Assert.Single(File.ReadAllLines(Path.Combine(gateway.StateDir, "native-events.jsonl")));
        var recorded = JsonParser.Default.Parse<EventData>(line);
        Assert.Equal(("native-only", "tenant-n", "extract.completed"), (recorded.Id, recorded.ApiKey, recorded.Event));
        Assert.Equal(0, gateway.App.Services.GetRequiredService<GrpcEventBroker>().Stats().EventsPublished);
    }

    [Fact]
    public async Task Publish_NativeDisabled_NoFileWritten()
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.Config["toast:native:enabled"] = "false");

        await PublishAsync(gateway, Event("tenant-a", "x"));

        Assert.False(File.Exists(Path.Combine(gateway.StateDir, "native-events.jsonl")));
        Assert.Null(gateway.App.Services.GetRequiredService<ToastPipeline>().Stats().Native);
    }

    [Fact]
    public async Task AdminStats_AfterPublish_HasThePipelineCounters()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        await PublishAsync(gateway, Event("tenant-a", "counted"));
        var pipeline = gateway.App.Services.GetRequiredService<ToastPipeline>();
        await Until(() => pipeline.Stats().Native!.EventsWritten == 1, "the native line written");

        using var response = await gateway.GetStatsAsync(gateway.Keys.Admin);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();

        var toast = json.GetProperty("toast");
        Assert.Equal(1, toast.GetProperty("events_dispatched").GetInt64());
        Assert.Equal(1, toast.GetProperty("grpc").GetProperty("events_published").GetInt64());
        Assert.Equal(4096, toast.GetProperty("grpc").GetProperty("queue_maxsize").GetInt32());
        Assert.Equal(0, toast.GetProperty("grpc").GetProperty("queue_depth").GetInt32());
        Assert.Equal(1, toast.GetProperty("native").GetProperty("events_written").GetInt64());
        Assert.Equal(1, json.GetProperty("events_published").GetInt64());
    }

    [Fact]
    public async Task StopAsync_BrokerDownPastDrainTimeout_CallsAnsweredAndUndeliveredLogged()
    {
        var sink = new SteerableSink { Failing = true };
        var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:queue:drain_timeout_s"] = "0.2";
            s.Config["toast:grpc:retry:backoff_base_s"] = "0.01";
            s.ConfigureServices = sink.Install;
        });
        await using (gateway)
        {
            var calls = new[]
            {
                PublishAsync(gateway, Event("tenant-a", "a")),
                PublishAsync(gateway, Event("tenant-b", "b")),
            };
            await sink.WaitForFailuresAsync(2);

            await gateway.App.StopAsync().WaitAsync(GatewayFixture.Timeout);

            foreach (var call in calls)
            {
                var error = await Assert.ThrowsAsync<RpcException>(() => call);
                Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            }

            var log = await gateway.Logs.WaitForAsync(e => e.EventId.Id == 5005, GatewayFixture.Timeout);
            Assert.StartsWith(
                "Toast handler grpc stopped: 2 events could not be delivered to the broker",
                log.Message,
                StringComparison.Ordinal);
        }
    }

    private static EventData Event(string topic, string id)
    {
        var evt = Streams.Event(topic);
        evt.Id = id;
        return evt;
    }

    private static async Task<PublishResponse> PublishAsync(GatewayFixture gateway, EventData evt) =>
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = evt },
            GatewayFixture.Auth(gateway.Keys.Publisher));

    private static async Task Until(Func<bool> condition, string what)
    {
        if (!await Task.Run(() => SpinWait.SpinUntil(condition, GatewayFixture.Timeout)))
        {
            throw new Xunit.Sdk.XunitException($"Timed out waiting for: {what}");
        }
    }
}
