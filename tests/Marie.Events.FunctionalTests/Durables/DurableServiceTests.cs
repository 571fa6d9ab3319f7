using System.Diagnostics;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Durables;

/// <summary><c>marieai.events.DurableService</c> on the real gateway: a key lists and deletes its own durables only;
/// an admin key may name another key.</summary>
public sealed class DurableServiceTests : IAsyncLifetime
{
    private const string Topic = "durable-svc";

    private GatewayFixture _gateway = null!;

    private DurableService.DurableServiceClient Durables => new(_gateway.Channel);

    public async Task InitializeAsync() => _gateway = await GatewayFixture.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    /// <summary>Opens a stream of <paramref name="key"/> holding durable <paramref name="name"/>, with two events
    /// delivered and the first acknowledged (one pending).</summary>
    private async Task<AsyncDuplexStreamingCall<ClientMessage, ServerMessage>> HoldAsync(string key, string name)
    {
        var call = _gateway.Streams.StreamEvents(GatewayFixture.Auth(key));
        var subscribe = Streams.Subscribe("s-" + name, Topic);
        subscribe.Subscribe.DurableName = name;
        await call.RequestStream.WriteAsync(subscribe);
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        for (var i = 0; i < 2; i++)
        {
            await _gateway.Publisher.PublishAsync(new PublishRequest { Event = Streams.Event(Topic) },
                GatewayFixture.Auth(_gateway.Keys.Publisher));
        }

        var first = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);
        await call.RequestStream.WriteAsync(new ClientMessage
        {
            Ack = new AckMessage { Individual = new IndividualAck { AckIds = { first.Event.AckId } } },
        });
        return call;
    }

    private async Task<DurableSubscriptionState> WaitForAsync(string key, string name,
        Func<DurableSubscriptionState, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var listed = await Durables.ListDurablesAsync(new ListDurablesRequest(), GatewayFixture.Auth(key));
            if (listed.Durables.FirstOrDefault(d => d.Name == name) is { } durable && condition(durable))
            {
                return durable;
            }

            if (clock.Elapsed > GatewayFixture.Timeout)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}: {listed}");
            }

            // Polling interval of the condition, not a wait for it.
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task ListDurables_OwnKey_ItsDurableWithPositions()
    {
        using var call = await HoldAsync(_gateway.Keys.Subscriber, "svc-own");

        var durable = await WaitForAsync(_gateway.Keys.Subscriber, "svc-own", d => d.Pending == 1,
            "one unacknowledged event");

        Assert.Equal("test-subscriber", durable.Key);
        Assert.Equal(1, durable.Members);
        Assert.Null(durable.ExpiresAt);
        var topic = Assert.Single(durable.Topics);
        Assert.Equal(Topic, topic.Topic);
        Assert.Equal(1, topic.Acked);
        Assert.Equal(2, topic.Delivered);
        Assert.Equal(1, topic.Pending);
    }

    [Fact]
    public async Task ListDurables_Released_InactiveSinceAndExpiresAtByTheTtl()
    {
        using (await HoldAsync(_gateway.Keys.Subscriber, "svc-idle"))
        {
        }

        var durable = await WaitForAsync(_gateway.Keys.Subscriber, "svc-idle", d => d.Members == 0,
            "the durable released");

        Assert.NotNull(durable.InactiveSince);
        // The default durable.inactive_ttl_s: a day.
        Assert.Equal(TimeSpan.FromDays(1),
            durable.ExpiresAt.ToDateTimeOffset() - durable.InactiveSince.ToDateTimeOffset());
    }

    [Fact]
    public async Task ListDurables_AnotherKey_SeesNone()
    {
        using var call = await HoldAsync(_gateway.Keys.Subscriber, "svc-private");

        var other = await Durables.ListDurablesAsync(new ListDurablesRequest(),
            GatewayFixture.Auth(_gateway.Keys.User));
        var denied = await Assert.ThrowsAsync<RpcException>(async () => await Durables.ListDurablesAsync(
            new ListDurablesRequest { Key = "test-subscriber" }, GatewayFixture.Auth(_gateway.Keys.User)));
        var asAdmin = await Durables.ListDurablesAsync(new ListDurablesRequest { Key = "test-subscriber" },
            GatewayFixture.Auth(_gateway.Keys.Admin));

        Assert.Empty(other.Durables);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal("svc-private", Assert.Single(asAdmin.Durables).Name);
    }

    [Fact]
    public async Task DeleteDurable_AnotherKeysName_NotFoundAndKept()
    {
        using (await HoldAsync(_gateway.Keys.Subscriber, "svc-theirs"))
        {
        }

        await WaitForAsync(_gateway.Keys.Subscriber, "svc-theirs", d => d.Members == 0, "the durable released");
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Durables.DeleteDurableAsync(
            new DeleteDurableRequest { Name = "svc-theirs" }, GatewayFixture.Auth(_gateway.Keys.User)));

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.DoesNotContain("test-subscriber", error.Status.Detail, StringComparison.Ordinal);
        await WaitForAsync(_gateway.Keys.Subscriber, "svc-theirs", _ => true, "the durable kept");
    }

    [Fact]
    public async Task DeleteDurable_WhileHeldThenReleased_FailedPreconditionThenGone()
    {
        var call = await HoldAsync(_gateway.Keys.Subscriber, "svc-held");
        var busy = await Assert.ThrowsAsync<RpcException>(async () => await Durables.DeleteDurableAsync(
            new DeleteDurableRequest { Name = "svc-held" }, GatewayFixture.Auth(_gateway.Keys.Subscriber)));
        call.Dispose();
        await WaitForAsync(_gateway.Keys.Subscriber, "svc-held", d => d.Members == 0, "the durable released");

        var deleted = await Durables.DeleteDurableAsync(new DeleteDurableRequest { Name = "svc-held" },
            GatewayFixture.Auth(_gateway.Keys.Subscriber));
        var listed = await Durables.ListDurablesAsync(new ListDurablesRequest(),
            GatewayFixture.Auth(_gateway.Keys.Subscriber));
        var again = await Assert.ThrowsAsync<RpcException>(async () => await Durables.DeleteDurableAsync(
            new DeleteDurableRequest { Name = "svc-held" }, GatewayFixture.Auth(_gateway.Keys.Subscriber)));

        Assert.Equal(StatusCode.FailedPrecondition, busy.StatusCode);
        Assert.Equal(("test-subscriber", "svc-held"), (deleted.Key, deleted.Name));
        Assert.Empty(listed.Durables);
        Assert.Equal(StatusCode.NotFound, again.StatusCode);
    }

    [Fact]
    public async Task DeleteDurable_AdminNamingTheKey_Deleted()
    {
        using (await HoldAsync(_gateway.Keys.Subscriber, "svc-admin"))
        {
        }

        await WaitForAsync(_gateway.Keys.Subscriber, "svc-admin", d => d.Members == 0, "the durable released");
        var deleted = await Durables.DeleteDurableAsync(
            new DeleteDurableRequest { Name = "svc-admin", Key = "test-subscriber" },
            GatewayFixture.Auth(_gateway.Keys.Admin));
        var listed = await Durables.ListDurablesAsync(new ListDurablesRequest(),
            GatewayFixture.Auth(_gateway.Keys.Subscriber));

        Assert.Equal("test-subscriber", deleted.Key);
        Assert.Empty(listed.Durables);
    }

    [Fact]
    public async Task DurableService_PublisherKeyOrNoKey_PermissionDeniedOrUnauthenticated()
    {
        var publisher = await Assert.ThrowsAsync<RpcException>(async () => await Durables.ListDurablesAsync(
            new ListDurablesRequest(), GatewayFixture.Auth(_gateway.Keys.Publisher)));
        var none = await Assert.ThrowsAsync<RpcException>(async () => await Durables.ListDurablesAsync(
            new ListDurablesRequest(), GatewayFixture.Auth(null)));

        Assert.Equal(StatusCode.PermissionDenied, publisher.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
    }
}
