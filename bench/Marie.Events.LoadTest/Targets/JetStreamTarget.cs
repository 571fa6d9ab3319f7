using Google.Protobuf;
using Marie.Events.LoadTest.Infra;
using Marie.Events.Protocol;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Marie.Events.LoadTest.Targets;

/// <summary>
/// The nats-server process and the client connections to it. Each workload gets its own memory-storage stream
/// (<c>W1</c> on subjects <c>w1.&gt;</c>), keeping <see cref="ServerSettings.ReplaySize"/> messages per subject
/// (our ring per topic), deleted when the workload ends. Subjects are <c>w1.t3.&lt;jobid&gt;</c>.
/// </summary>
internal sealed class NatsServer(ServerProcess server, int port, ServerSettings settings) : IAsyncDisposable
{
    private readonly Dictionary<int, NatsConnection> _connections = [];
    private readonly SemaphoreSlim _gate = new(1, 1);

    public ServerProcess Server { get; } = server;

    public ServerSettings Settings { get; } = settings;

    public async Task<NatsJSContext> ContextAsync(int connection)
    {
        await _gate.WaitAsync();
        try
        {
            if (!_connections.TryGetValue(connection, out var nats))
            {
                nats = new NatsConnection(new NatsOpts
                {
                    Url = $"nats://127.0.0.1:{port}",
                    Name = $"bench-{connection}",
                    // Room for a consumer's whole batch per subscription (MaxMsgs below).
                    SubPendingChannelCapacity = ClientSettings.MaxInFlight * 2,
                });
                await nats.ConnectAsync();
                _connections[connection] = nats;
            }

            return new NatsJSContext(nats);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Drops the subscribers' connections (a new workload opens new ones).</summary>
    public async Task ResetConnectionsAsync()
    {
        await _gate.WaitAsync();
        try
        {
            foreach (var connection in _connections.Values)
            {
                await connection.DisposeAsync();
            }

            _connections.Clear();
        }
        finally
        {
            _gate.Release();
        }
    }

    public static string StreamName(WorkloadShape shape) => shape.Workload.ToUpperInvariant();

    public static string Subject(WorkloadShape shape, int topic, string jobId) => $"{shape.Workload}.t{topic}.{jobId}";

    public async ValueTask DisposeAsync()
    {
        await ResetConnectionsAsync();
        await Server.DisposeAsync();
        _gate.Dispose();
    }
}

/// <summary>JetStream with one ack policy: <c>AckAll</c> (ack the last of every <see cref="ClientSettings.AckEvery"/>
/// messages) or <c>AckExplicit</c> (ack each message).</summary>
internal sealed class JetStreamTarget(NatsServer nats, bool ackAll) : IBenchTarget
{
    /// <summary>Connection indexes of producers, apart from the subscribers'.</summary>
    private const int ProducerConnectionBase = 1_000_000;

    public string Name { get; } = ackAll ? "jetstream-ackall" : "jetstream-ackexplicit";

    public ServerProcess Server => nats.Server;

    public bool CanReplay => true;

    public async Task PrepareAsync(WorkloadShape shape, CancellationToken cancellationToken)
    {
        var js = await nats.ContextAsync(0);
        try
        {
            await js.GetStreamAsync(NatsServer.StreamName(shape), cancellationToken: cancellationToken);
            return;
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // Not there yet: create it below.
        }

        await js.CreateStreamAsync(new StreamConfig(NatsServer.StreamName(shape), [$"{shape.Workload}.>"])
        {
            Storage = StreamConfigStorage.Memory,
            MaxMsgsPerSubject = shape.RetainPerSubject,
            Discard = StreamConfigDiscard.Old,
        }, cancellationToken);
    }

    public async Task CleanupAsync(WorkloadShape shape)
    {
        var js = await nats.ContextAsync(0);
        try
        {
            await js.DeleteStreamAsync(NatsServer.StreamName(shape));
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // Already gone (the other ack mode's cleanup).
        }

        await nats.ResetConnectionsAsync();
    }

    private static async Task DeleteConsumerAsync(NatsJSContext js, string stream, string consumer)
    {
        try
        {
            await js.DeleteConsumerAsync(stream, consumer);
        }
        catch (Exception ex) when (ex is NatsJSApiException or NatsException or OperationCanceledException)
        {
            // Gone with its stream already.
        }
    }

    public async Task<IBenchPublisher> OpenPublisherAsync(int index, CancellationToken cancellationToken) =>
        new NatsPublisher(await nats.ContextAsync(ProducerConnectionBase + index));

    public async Task<IAsyncDisposable> SubscribeAsync(
        SubscribeSpec spec,
        Flow flow,
        CancellationToken cancellationToken)
    {
        var js = await nats.ContextAsync(spec.Connection);
        var filter = spec.JobId is null
            ? $"{spec.Shape.Workload}.t{spec.Topic}.>"
            : NatsServer.Subject(spec.Shape, spec.Topic, spec.JobId);
        var consumer = await js.CreateOrUpdateConsumerAsync(NatsServer.StreamName(spec.Shape), new ConsumerConfig
        {
            Name = spec.SubscriptionId,
            FilterSubject = filter,
            AckPolicy = ackAll ? ConsumerConfigAckPolicy.All : ConsumerConfigAckPolicy.Explicit,
            DeliverPolicy = spec.FromStart ? ConsumerConfigDeliverPolicy.All : ConsumerConfigDeliverPolicy.New,
            MaxAckPending = ClientSettings.MaxInFlight,
            // Gone a while after the workload if the stream's deletion did not take it.
            InactiveThreshold = TimeSpan.FromMinutes(5),
        }, cancellationToken);
        var subscription = new NatsSubscription(
            consumer,
            spec,
            flow,
            ackAll,
            TimeSpan.FromSeconds(nats.Settings.HeartbeatSeconds),
            cancellationToken);
        // Closed with its consumer, as our subscriptions close with their stream: later rounds do not carry it.
        subscription.OnClosed = () => DeleteConsumerAsync(js, NatsServer.StreamName(spec.Shape), spec.SubscriptionId);
        return subscription;
    }
}

/// <summary>A pull consumer's Consume loop: parses each message as EventData (as our subscribers parse
/// envelopes).</summary>
internal sealed class NatsSubscription : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Task _loop;

    public NatsSubscription(
        INatsJSConsumer consumer,
        SubscribeSpec spec,
        Flow flow,
        bool ackAll,
        TimeSpan heartbeat,
        CancellationToken cancellationToken)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _loop = Task.Run(
            () => ConsumeAsync(consumer, spec, flow, ackAll, heartbeat, _stop.Token),
            CancellationToken.None);
    }

    private static async Task ConsumeAsync(
        INatsJSConsumer consumer,
        SubscribeSpec spec,
        Flow flow,
        bool ackAll,
        TimeSpan heartbeat,
        CancellationToken token)
    {
        var opts = new NatsJSConsumeOpts
        {
            MaxMsgs = ClientSettings.MaxInFlight,
            IdleHeartbeat = heartbeat,
            // The pull request's expiry must exceed twice the idle heartbeat.
            Expires = heartbeat * 3 > TimeSpan.FromSeconds(30) ? heartbeat * 3 : TimeSpan.FromSeconds(30),
        };
        var unacked = 0;
        try
        {
            await foreach (var msg in consumer.ConsumeAsync<byte[]>(opts: opts, cancellationToken: token))
            {
                var evt = EventData.Parser.ParseFrom(msg.Data);
                flow.OnReceived(spec.Topic, evt.Jobtag);
                if (!ackAll || ++unacked >= spec.AckEvery)
                {
                    unacked = 0;
                    await msg.AckAsync(cancellationToken: token);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    /// <summary>Run after the consume loop ended (deletes the consumer).</summary>
    public Func<Task>? OnClosed { get; set; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or NatsException)
        {
            // The end of a cancelled consume.
        }

        if (OnClosed is { } closed)
        {
            await closed();
        }

        _stop.Dispose();
    }
}

/// <summary>JetStream publishes, pipelined: up to <see cref="ClientSettings.PublishWindow"/> await their
/// PubAck.</summary>
internal sealed class NatsPublisher(NatsJSContext js) : IBenchPublisher
{
    private readonly SemaphoreSlim _slots = new(ClientSettings.PublishWindow, ClientSettings.PublishWindow);
    private long _failures;

    public async ValueTask PublishAsync(EventData evt, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        if (Interlocked.Read(ref _failures) > 0)
        {
            throw new InvalidOperationException("a JetStream publish failed");
        }

        // The subject names the topic and the job: filtered consumers select on it.
        var subject = $"{evt.ApiKey.Replace("-t", ".t", StringComparison.Ordinal)}.{evt.Jobid}";
        _ = SendAsync(subject, evt.ToByteArray(), cancellationToken);
    }

    private async Task SendAsync(string subject, byte[] data, CancellationToken cancellationToken)
    {
        try
        {
            var ack = await js.PublishAsync(subject, data, cancellationToken: cancellationToken);
            ack.EnsureSuccess();
        }
        catch (Exception ex) when (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            // The run ended.
        }
        catch (Exception ex) when (ex is NatsException or NatsJSException)
        {
            Interlocked.Increment(ref _failures);
        }
        finally
        {
            _slots.Release();
        }
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (_slots.CurrentCount < ClientSettings.PublishWindow)
        {
            await Task.Delay(1, cancellationToken);
        }

        if (Interlocked.Read(ref _failures) > 0)
        {
            throw new InvalidOperationException("a JetStream publish failed");
        }
    }

    /// <summary>Nothing to release: the slots are a plain SemaphoreSlim (no wait handle), and a publish still in flight
    /// releases its slot when it completes.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
