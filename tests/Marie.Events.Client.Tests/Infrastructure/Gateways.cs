using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Client.Tests.Infrastructure;

/// <summary>The real gateway (GatewayFixture) and clients of it, with short test timings.</summary>
internal static class Gateways
{
    /// <summary>Starts a gateway with <c>toast.grpc.broker.*</c> settings
    /// (e.g. <c>("max_in_flight", "500")</c>).</summary>
    public static Task<GatewayFixture> StartAsync(params (string Key, string Value)[] broker) =>
        GatewayFixture.StartAsync(s =>
        {
            foreach (var (key, value) in broker)
            {
                s.Config[$"toast:grpc:broker:{key}"] = value;
            }
        });

    /// <summary>A client of <paramref name="address"/> (default: the gateway) with key <paramref name="key"/>
    /// (default: the admin key, which may publish and subscribe).</summary>
    public static EventStreamClient Client(
        GatewayFixture gateway,
        string? key = null,
        Uri? address = null,
        Action<EventStreamClientOptions>? configure = null)
    {
        var options = new EventStreamClientOptions
        {
            Address = address ?? new Uri($"http://127.0.0.1:{gateway.Ports.Grpc}"),
            // The admin key may both publish and stream (a publisher-only key may not stream).
            ApiKey = key ?? gateway.Keys.Admin,
            AckFlushInterval = TimeSpan.FromMilliseconds(10),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(10),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            SubscribeTimeout = TimeSpan.FromSeconds(10),
        };
        configure?.Invoke(options);
        return new EventStreamClient(options);
    }

    public static BrokerStats Stats(GatewayFixture gateway) =>
        gateway.App.Services.GetRequiredService<GrpcEventBroker>().Stats();

    /// <summary>An event of <paramref name="topic"/>; <paramref name="kind"/> goes to <c>payload.kind</c>.</summary>
    public static EventData Event(
        string topic,
        string name = "extract.completed",
        string source = "job://extract/1",
        string? kind = null,
        string? id = null)
    {
        var evt = new EventData
        {
            ApiKey = topic,
            Event = name,
            Source = source,
            Jobid = "job-1",
            Status = "OK",
            Id = id ?? "",
        };
        if (kind is not null)
        {
            evt.Payload = new Struct { Fields = { ["kind"] = Value.ForString(kind) } };
        }

        return evt;
    }

    /// <summary>Reads <paramref name="count"/> events from the subscription (auto acks as it goes), failing after the
    /// timeout.</summary>
    public static async Task<List<ReceivedEvent>> ReadAsync(
        EventSubscription subscription,
        int count,
        TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Wait.Timeout);
        var received = new List<ReceivedEvent>();
        if (count == 0)
        {
            return received;
        }

        try
        {
            await foreach (var e in subscription.WithCancellation(cts.Token))
            {
                received.Add(e);
                if (received.Count == count)
                {
                    // Acknowledge the last one too before leaving the loop.
                    await e.AckAsync();
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Read {received.Count} of {count} events: {string.Join(", ", received)}");
        }

        return received;
    }

    /// <summary>Reads <paramref name="count"/> events without acknowledging any (manual mode).</summary>
    public static async Task<List<ReceivedEvent>> ReadManualAsync(
        EventSubscription subscription,
        int count,
        TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Wait.Timeout);
        var received = new List<ReceivedEvent>();
        try
        {
            await foreach (var e in subscription.WithCancellation(cts.Token))
            {
                received.Add(e);
                if (received.Count == count)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Read {received.Count} of {count} events: {string.Join(", ", received)}");
        }

        return received;
    }
}
