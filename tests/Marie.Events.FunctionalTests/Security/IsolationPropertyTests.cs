using System.Collections.Concurrent;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Grpc.Core;
using Grpc.Health.V1;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>What a generated client step does.</summary>
public enum StepKind
{
    Subscribe,
    Unsubscribe,
    AckLast,
    AckForeign,
    AckCumulative,
    FilterUpdate,
    Heartbeat,
    Empty,
    Publish,
}

/// <summary>One step: which of the three tenant streams sends it, what, with which subscription id, topics
/// (indexes into <see cref="IsolationPropertyTests.Vocabulary"/>) and number.</summary>
public sealed record ClientStep(int Actor, StepKind Kind, int Subscription, int[] Topics, long Number)
{
    public override string ToString() =>
        $"{Kind}(actor {Actor}, sub {Subscription}, topics [{string.Join(",", Topics)}], {Number})";
}

/// <summary>A generated session: steps from three tenants' streams and a publisher, interleaved.</summary>
public sealed record SessionPlan(ClientStep[] Steps)
{
    public override string ToString() => string.Join("; ", Steps.Select(s => s.ToString()));
}

/// <summary>FsCheck generators for <see cref="SessionPlan"/>.</summary>
public static class SessionPlans
{
    private static readonly long[] Numbers = [-1, 0, 1, 3, 50, long.MaxValue, long.MinValue];

    public static Arbitrary<SessionPlan> Plans()
    {
        // Mostly real topic names and "*", sometimes the odd ones (unlisted, raw keys, empty).
        var topic = Gen.Frequency(
            (3, Gen.Choose(0, 4)),
            (2, Gen.Constant(Array.IndexOf(IsolationPropertyTests.Vocabulary, "*"))),
            (2, Gen.Choose(0, IsolationPropertyTests.Vocabulary.Length - 1)));
        var topics = topic.ArrayOf().Select(a => a.Take(4).ToArray());
        var step =
            from actor in Gen.Choose(0, 2)
            from kind in Gen.Frequency(
                (4, Gen.Constant(StepKind.Subscribe)),
                (1, Gen.Constant(StepKind.Unsubscribe)),
                (2, Gen.Constant(StepKind.AckLast)),
                (1, Gen.Constant(StepKind.AckForeign)),
                (1, Gen.Constant(StepKind.AckCumulative)),
                (1, Gen.Constant(StepKind.FilterUpdate)),
                (1, Gen.Constant(StepKind.Heartbeat)),
                (1, Gen.Constant(StepKind.Empty)),
                (5, Gen.Constant(StepKind.Publish)))
            from subscription in Gen.Choose(0, 3)
            from chosen in topics
            from number in Gen.Elements(Numbers)
            select new ClientStep(actor, kind, subscription, chosen, number);
        return step.ListOf(40).Select(steps => new SessionPlan([.. steps])).ToArbitrary();
    }
}

/// <summary>The gateway shared by the property's runs: three tenants, a publisher, an admin.</summary>
public sealed class IsolationGateway : IAsyncLifetime
{
    public static readonly KeySpec[] Keys =
    [
        new("t1", ["subscriber"]),
        new("t2", ["subscriber"], ["t2", "shared"]),
        new("t3", ["user"], ["t3", "shared", "system"], Hashed: true),
        new("pub", ["publisher"], ["*"]),
        new("admin", ["admin"]),
    ];

    public TenantGateway Tenants { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Tenants = await TenantGateway.StartAsync(Keys, s =>
        {
            s.Config["toast:grpc:broker:heartbeat_interval_s"] = "0.05";
            s.Config["toast:grpc:broker:ack_timeout_s"] = "0.2";
            s.Config["toast:grpc:broker:redelivery_delay_s"] = "0.1";
            s.Config["toast:grpc:broker:max_in_flight"] = "4";
        });

    public async Task DisposeAsync() => await Tenants.DisposeAsync();
}

/// <summary>
/// Random sequences of valid and invalid client messages from three tenants (and publishes, some with raw keys):
/// afterwards the gateway serves, no stream received anything of a topic its key may not see, no raw key became a
/// topic, and the broker's connections, subscriptions, in-flight events and queued answers are back to zero once the
/// streams closed.
/// </summary>
public sealed class IsolationPropertyTests(IsolationGateway fixture) : IClassFixture<IsolationGateway>
{
    /// <summary>Topics a step may name: key names, a shared and a system topic, a topic nobody lists, "*", the
    /// sender's own raw key (-1) and another tenant's (-2), an empty name.</summary>
    public static readonly string[] Vocabulary = [
        "t1",
        "t2",
        "t3",
        "shared",
        "system",
        "unlisted",
        "*",
        "<own-key>",
        "<other-key>",
        ""];

    private static readonly string[] Tenants = ["t1", "t2", "t3"];

    private static readonly HashSet<string>[] Visible =
    [
        ["t1"],
        ["t2", "shared"],
        ["t3", "shared", "system"],
    ];

    private static int _run;

    private TenantGateway T => fixture.Tenants;

    [Property(Arbitrary = [typeof(SessionPlans)], MaxTest = 25)]
    public void RandomSessions_IsolationHoldsAndStateReturnsToBaseline(SessionPlan plan) =>
        RunAsync(plan).GetAwaiter().GetResult();

    private async Task RunAsync(SessionPlan plan)
    {
        var run = Interlocked.Increment(ref _run);
        var calls = new AsyncDuplexStreamingCall<ClientMessage, ServerMessage>[Tenants.Length];
        var received = new ConcurrentQueue<ServerMessage>[Tenants.Length];
        var readers = new Task[Tenants.Length];
        var stops = new CancellationTokenSource[Tenants.Length];
        for (var i = 0; i < Tenants.Length; i++)
        {
            stops[i] = new CancellationTokenSource(GatewayFixture.Timeout * 3);
            calls[i] = T.Gateway.Streams.StreamEvents(GatewayFixture.Auth(T.KeyOf(Tenants[i]), stops[i].Token));
            received[i] = new ConcurrentQueue<ServerMessage>();
            readers[i] = CollectAsync(calls[i], received[i], stops[i].Token);
        }

        foreach (var step in plan.Steps)
        {
            await ExecuteAsync(step, calls, received);
        }

        // A probe per stream: once it is answered, every step before it was processed.
        for (var i = 0; i < Tenants.Length; i++)
        {
            var probe = $"probe-{run}";
            await calls[i].RequestStream.WriteAsync(
                new ClientMessage
                {
                    Subscribe = new SubscribeRequest { SubscriptionId = probe, Topics = { Tenants[i] } },
                });
            var queue = received[i];
            await TenantGateway.WaitForAsync(
                () =>
                    queue.Any(m => m.SubscriptionConfirm?.SubscriptionId == probe || m.Error?.SubscriptionId == probe),
                $"the probe of {Tenants[i]}");
        }

        // Closed the way a client leaves: cancel the call, let its reader see the end, then dispose it.
        for (var i = 0; i < Tenants.Length; i++)
        {
            await calls[i].RequestStream.CompleteAsync();
            await stops[i].CancelAsync();
            await readers[i];
            calls[i].Dispose();
            stops[i].Dispose();
        }

        for (var i = 0; i < Tenants.Length; i++)
        {
            AssertOnlyVisible(i, received[i]);
        }

        await TenantGateway.WaitForAsync(async () => await StatsAsync() is var s
            && s.GetProperty("connections").GetInt32() == 0
            && s.GetProperty("subscriptions").GetInt32() == 0
            && s.GetProperty("in_flight_events").GetInt64() == 0
            && s.GetProperty("queued_replies").GetInt64() == 0, "the broker's state to return to baseline");
        var stats = await StatsAsync();
        var topics = stats.GetProperty("topic_stats").EnumerateObject().Select(p => p.Name).ToList();
        Assert.All(topics, topic => Assert.Contains(topic, Vocabulary));
        var health = await new Health.HealthClient(T.Gateway.Channel).CheckAsync(
            new HealthCheckRequest(),
            deadline: DateTime.UtcNow.Add(GatewayFixture.Timeout));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    private async Task ExecuteAsync(
        ClientStep step,
        AsyncDuplexStreamingCall<ClientMessage, ServerMessage>[] calls,
        ConcurrentQueue<ServerMessage>[] received)
    {
        var id = $"s{step.Subscription}";
        var topics = step.Topics.Select(t => TopicFor(t, step.Actor)).ToArray();
        if (step.Kind == StepKind.Publish)
        {
            try
            {
                var topic = topics.FirstOrDefault(t => t != "*") ?? "t1";
                await T.Gateway.Publisher.PublishAsync(
                    new PublishRequest { Event = SecurityStreams.Event(topic) },
                    GatewayFixture.Auth(T.KeyOf("pub")));
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied)
            {
                // An empty topic or another key's raw form that is no configured key: refused, as it should be.
            }

            return;
        }

        var message = step.Kind switch
        {
            StepKind.Subscribe => new ClientMessage { Subscribe = Subscribe(id, topics, step.Number) },
            StepKind.Unsubscribe => new ClientMessage { Unsubscribe = new UnsubscribeRequest { SubscriptionId = id } },
            StepKind.AckLast => AckLast(received[step.Actor]),
            StepKind.AckForeign => AckLast(received[(step.Actor + 1) % Tenants.Length]),
            StepKind.AckCumulative => new ClientMessage
            {
                Ack = new AckMessage
                {
                    SubscriptionId = id,
                    Cumulative = new CumulativeAck
                    {
                        Topic = topics.FirstOrDefault() ?? "",
                        UpToSequenceNum = step.Number,
                    },
                },
            },
            StepKind.FilterUpdate => new ClientMessage
            {
                FilterUpdate = new FilterUpdate
                {
                    SubscriptionId = id,
                    Filter = new FilterConfig { IncludeSources = { "gateway://*" } },
                },
            },
            StepKind.Heartbeat => new ClientMessage { Heartbeat = new ClientHeartbeat { Timestamp = step.Number } },
            _ => new ClientMessage(),
        };
        await calls[step.Actor].RequestStream.WriteAsync(message);
    }

    private static SubscribeRequest Subscribe(string id, string[] topics, long number)
    {
        var request = new SubscribeRequest { SubscriptionId = id, Topics = { topics } };
        if (number is >= int.MinValue and <= int.MaxValue)
        {
            request.ReplayCount = (int)number;
        }
        else
        {
            request.LastSequenceNum = number;
        }

        return request;
    }

    private static ClientMessage AckLast(ConcurrentQueue<ServerMessage> received)
    {
        var last = received.LastOrDefault(m => m.Event is not null)?.Event;
        return new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = last?.SubscriptionId ?? "",
                Individual = new IndividualAck { AckIds = { last?.AckId ?? "none" } },
            },
        };
    }

    private string TopicFor(int index, int actor) => Vocabulary[index] switch
    {
        "<own-key>" => T.KeyOf(Tenants[actor]),
        "<other-key>" => T.KeyOf(Tenants[(actor + 1) % Tenants.Length]),
        var topic => topic,
    };

    private void AssertOnlyVisible(int actor, IEnumerable<ServerMessage> messages)
    {
        var visible = Visible[actor];
        var rawKeys = IsolationGateway.Keys.Select(k => T.KeyOf(k.Name)).ToArray();
        foreach (var message in messages)
        {
            var names = message.MessageCase switch
            {
                ServerMessage.MessageOneofCase.Event => [message.Event.Event.ApiKey],
                ServerMessage.MessageOneofCase.SubscriptionConfirm =>
                    message.SubscriptionConfirm.TopicHeads.Keys.Concat(message.SubscriptionConfirm.TopicEpochs.Keys),
                ServerMessage.MessageOneofCase.Heartbeat =>
                    message.Heartbeat.TopicHeads.Keys.Concat(message.Heartbeat.TopicEpochs.Keys),
                _ => [],
            };
            Assert.All(names, name => Assert.Contains(name, visible));
            var text = message.ToString();
            Assert.All(rawKeys, key => Assert.DoesNotContain(key, text, StringComparison.Ordinal));
        }
    }

    private static async Task CollectAsync(
        AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call,
        ConcurrentQueue<ServerMessage> into,
        CancellationToken leaving)
    {
        try
        {
            while (await call.ResponseStream.MoveNext())
            {
                into.Enqueue(call.ResponseStream.Current);
            }
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled
            || (leaving.IsCancellationRequested && ex.StatusCode == StatusCode.Unavailable
                && ex.Status.DebugException is IOException))
        {
            // The test cancelled the call: the end of the stream. A cancel that races the read in flight can surface
            // as the aborted request's IOException instead; only after the test's own cancel is it the end.
        }
    }

    private async Task<JsonElement> StatsAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/stats");
        request.Headers.Authorization = new("Bearer", T.KeyOf("admin"));
        using var response = await T.Gateway.Admin.SendAsync(request);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }
}
