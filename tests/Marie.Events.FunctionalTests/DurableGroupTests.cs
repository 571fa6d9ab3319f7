using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests;

/// <summary>Durable subscriptions and consumer groups over real streams on the real gateway.</summary>
public sealed class DurableGroupTests : IDisposable
{
    private const string Topic = "durable-topic";

    /// <summary>The admin path of the durable the listing test makes (the subscriber test key's).</summary>
    private const string Listed = "/internal/durables/test-subscriber/fx-listed";

    /// <summary>One delivery a member saw: its sequence, attempt, and when (on the test's stopwatch).</summary>
    private sealed record Seen(int Member, long Sequence, int Attempt, TimeSpan At);

    private static ClientMessage Subscribe(string id, string durable, string group)
    {
        var request = new SubscribeRequest { SubscriptionId = id, Topics = { Topic }, DurableName = durable };
        request.Group = group;
        return new ClientMessage { Subscribe = request };
    }

    private static ClientMessage Ack(string ackId) =>
        new() { Ack = new AckMessage { Individual = new IndividualAck { AckIds = { ackId } } } };

    private static async Task PublishAsync(GatewayFixture gateway, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event(Topic) },
                GatewayFixture.Auth(gateway.Keys.Publisher));
        }
    }

    /// <summary>Released on every delivery a member records: the waits below wake on it, not on a timer.</summary>
    private readonly SemaphoreSlim _recorded = new(0);

    private async Task WaitForAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            var left = GatewayFixture.Timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}");
            }

            await _recorded.WaitAsync(left);
        }
    }

    private static async Task WaitForHttpAsync(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > GatewayFixture.Timeout)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}");
            }
        }
    }

    /// <summary>A member's stream: subscribes, then records every delivery and (unless told not to) acks it.</summary>
    private async Task<(AsyncDuplexStreamingCall<ClientMessage, ServerMessage> Call, Task Reader)> MemberAsync(
        GatewayFixture gateway, int member, bool acks, ConcurrentQueue<Seen> seen, Stopwatch clock,
        CancellationToken cancel)
    {
        var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber, cancel));
        await call.RequestStream.WriteAsync(Subscribe($"m{member}", "fx-work", "fx-group"), cancel);
        var confirm = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        Assert.Equal("fx-group", confirm.SubscriptionConfirm.Group);
        var reader = Task.Run(async () =>
        {
            try
            {
                while (await call.ResponseStream.MoveNext(cancel))
                {
                    if (call.ResponseStream.Current.Event is not { } evt)
                    {
                        continue;
                    }

                    seen.Enqueue(new Seen(member, evt.SequenceNum, evt.DeliveryAttempt, clock.Elapsed));
                    _recorded.Release();
                    if (acks)
                    {
                        await call.RequestStream.WriteAsync(Ack(evt.AckId), cancel);
                    }
                }
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException)
            {
                // The member was killed (its call cancelled) or the gateway stopped.
            }
        }, CancellationToken.None);
        return (call, reader);
    }

    [Fact]
    public async Task Group_OfThreeOneKilledMidRun_EveryEventOnceTwiceOnlyWhatTheKilledOneHeld()
    {
        // A long ack timeout: the killed member's events must move because its stream ended, not after it.
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["toast:grpc:broker:ack_timeout_s"] = "60";
            s.Config["toast:grpc:broker:max_in_flight"] = "5";
        });
        var seen = new ConcurrentQueue<Seen>();
        var clock = Stopwatch.StartNew();
        using var killSwitch = new CancellationTokenSource();
        using var end = new CancellationTokenSource();
        var victim = await MemberAsync(gateway, 0, acks: false, seen, clock, killSwitch.Token);
        var one = await MemberAsync(gateway, 1, acks: true, seen, clock, end.Token);
        var two = await MemberAsync(gateway, 2, acks: true, seen, clock, end.Token);

        // Events go to the least busy member: the victim, which never acks, ends up holding some, at most its cap.
        await PublishAsync(gateway, 30);
        await WaitForAsync(() => seen.Select(s => s.Sequence).Distinct().Count() == 30, "the first 30");
        var held = seen.Where(s => s.Member == 0).Select(s => s.Sequence).ToHashSet();
        Assert.InRange(held.Count, 1, 5);

        var killedAt = clock.Elapsed;
        killSwitch.Cancel();
        await victim.Reader;
        victim.Call.Dispose();
        await PublishAsync(gateway, 30);
        await WaitForAsync(
            () => seen.Where(s => s.Member != 0).Select(s => s.Sequence).Distinct().Count() == 60,
            "the survivors to process all 60");

        var all = seen.ToArray();
        var bySequence = all.GroupBy(s => s.Sequence).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(Enumerable.Range(1, 60).Select(i => (long)i), bySequence.Keys.Order());
        foreach (var (sequence, deliveries) in bySequence)
        {
            Assert.Equal(held.Contains(sequence) ? 2 : 1, deliveries.Count);
        }

        foreach (var sequence in held)
        {
            var taken = Assert.Single(bySequence[sequence], s => s.Member != 0);
            Assert.Equal(2, taken.Attempt);
            Assert.True(taken.At - killedAt < TimeSpan.FromSeconds(1),
                $"event {sequence} reached a survivor {(taken.At - killedAt).TotalMilliseconds} ms after the kill");
        }

        end.Cancel();
        await Task.WhenAll(one.Reader, two.Reader);
        one.Call.Dispose();
        two.Call.Dispose();
    }

    [Fact]
    public async Task Group_WithoutDurableName_ErrorMessageAndStreamStaysUp()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Subscribe("bad", "", "fx-group"));

        var error = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Error);

        Assert.Equal(ErrorCode.ErrorGroupWithoutDurable, error.Error.Code);
        await call.RequestStream.WriteAsync(Streams.Subscribe("good", Topic));
        var confirm = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        Assert.Equal("good", confirm.SubscriptionConfirm.SubscriptionId);
    }

    [Fact]
    public async Task Durable_SameNameUsedByTwoKeys_TwoIndependentSubscriptions()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var mine = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        using var theirs = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Admin));
        foreach (var call in new[] { mine, theirs })
        {
            await call.RequestStream.WriteAsync(Subscribe("s1", "fx-same", ""));
            await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        }

        await PublishAsync(gateway, 2);

        foreach (var call in new[] { mine, theirs })
        {
            var first = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
            var second = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
            Assert.Equal([1L, 2], new[] { first.Event.SequenceNum, second.Event.SequenceNum });
        }

        using var list = await SendAsync(gateway, HttpMethod.Get, "/internal/durables");
        var json = await list.Content.ReadAsStringAsync();
        Assert.Contains("\"key\":\"test-subscriber\",\"name\":\"fx-same\"", json, StringComparison.Ordinal);
        Assert.Contains("\"key\":\"test-admin\",\"name\":\"fx-same\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("inactive_ttl_s", "0", "toast.grpc.broker.durable.inactive_ttl_s must be greater than 0 (got 0)")]
    [InlineData("flush_interval_ms", "0", "toast.grpc.broker.durable.flush_interval_ms must be at least 1 (got 0)")]
    [InlineData("lease_ttl_ms", "999", "toast.grpc.broker.durable.lease_ttl_ms must be at least 1000 (got 999)")]
    public async Task StartAsync_BadDurableSetting_FailsNamingTheKey(string key, string value, string expected)
    {
        var settings = new GatewaySettings();
        settings.Config[$"toast:grpc:broker:durable:{key}"] = value;
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Durable_ListedAndDeletedThroughTheAdminApi()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using (var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber)))
        {
            await call.RequestStream.WriteAsync(Subscribe("s1", "fx-listed", ""));
            await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
            using var busy = await SendAsync(gateway, HttpMethod.Delete, Listed);
            Assert.Equal(HttpStatusCode.Conflict, busy.StatusCode);
        }

        await WaitForHttpAsync(
            async () =>
            {
                using var answer = await SendAsync(gateway, HttpMethod.Get, "/internal/durables?key=test-subscriber");
                return (await answer.Content.ReadAsStringAsync()).Contains("\"members\":0", StringComparison.Ordinal);
            },
            "the durable to have no member");
        using var list = await SendAsync(gateway, HttpMethod.Get, "/internal/durables?key=test-subscriber");
        var json = await list.Content.ReadAsStringAsync();
        Assert.Contains("\"name\":\"fx-listed\"", json, StringComparison.Ordinal);
        using var deleted = await SendAsync(gateway, HttpMethod.Delete, Listed);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        using var gone = await SendAsync(gateway, HttpMethod.Delete, Listed);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using var forbidden = await SendAsync(gateway, HttpMethod.Get, "/internal/durables", gateway.Keys.Subscriber);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }

    public void Dispose() => _recorded.Dispose();

    private static Task<HttpResponseMessage> SendAsync(GatewayFixture gateway, HttpMethod method, string path,
        string? key = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Bearer", key ?? gateway.Keys.Admin);
        return gateway.Admin.SendAsync(request);
    }
}
