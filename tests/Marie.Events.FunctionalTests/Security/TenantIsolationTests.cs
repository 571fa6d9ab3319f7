using System.Net;
using System.Text.Json;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>Who may see what: topics are key names, each key sees its own topic or the topics it lists.</summary>
public sealed class TenantIsolationTests : IAsyncLifetime
{
    private static readonly KeySpec[] Keys =
    [
        new("tenant-a", ["subscriber"]),
        new("tenant-b", ["user"]),
        new("ops", ["subscriber"], ["system", "tenant-a"]),
        new("pub", ["publisher"], ["*"]),
        new("pub-a", ["publisher"], ["tenant-a"]),
        new("admin", ["admin"]),
    ];

    private TenantGateway _tenants = null!;

    private GatewayFixture Gateway => _tenants.Gateway;

    public async Task InitializeAsync() =>
        _tenants = await TenantGateway.StartAsync(
            Keys,
            s => s.Config["toast:grpc:broker:heartbeat_interval_s"] = "0.2");

    public async Task DisposeAsync() => await _tenants.DisposeAsync();

    private string Key(string name) => _tenants.KeyOf(name);

    private AsyncDuplexStreamingCall<ClientMessage, ServerMessage> Stream(string name) =>
        Gateway.Streams.StreamEvents(GatewayFixture.Auth(Key(name)));

    private Task<PublishResponse> PublishAsync(string topic, string publisher = "pub") =>
        Gateway.Publisher.PublishAsync(
            new PublishRequest { Event = SecurityStreams.Event(topic) },
            GatewayFixture.Auth(Key(publisher))).ResponseAsync;

    [Fact]
    public async Task Subscribe_OtherTenantsTopic_PermissionDeniedSameAnswerAsMissingTopic()
    {
        await PublishAsync("tenant-b");
        using var call = Stream("tenant-a");

        var existing = await SecurityStreams.SubscribeAsync(call, "s1", "tenant-b");
        var missing = await SecurityStreams.SubscribeAsync(call, "s2", "no-such-tenant");

        Assert.Equal(ErrorCode.ErrorPermissionDenied, existing.Error.Code);
        Assert.Equal(ErrorCode.ErrorPermissionDenied, missing.Error.Code);
        Assert.Equal(existing.Error.Message.Replace("tenant-b", "T", StringComparison.Ordinal),
            missing.Error.Message.Replace("no-such-tenant", "T", StringComparison.Ordinal));
        Assert.Equal("tenant-b", existing.Error.Details["topic"]);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Subscribe_WildcardTenantKey_ReceivesOnlyItsOwnTopic()
    {
        using var call = Stream("tenant-a");
        var confirm = await SecurityStreams.SubscribeAsync(call, "all", "*");

        await PublishAsync("tenant-b");
        await PublishAsync("system");
        var own = await PublishAsync("tenant-a");
        var delivered = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);

        Assert.Equal(["*"], confirm.SubscriptionConfirm.Topics);
        Assert.All(confirm.SubscriptionConfirm.TopicHeads.Keys, t => Assert.Equal("tenant-a", t));
        Assert.Equal(own.Id, delivered.Event.Event.Id);
        Assert.Equal("tenant-a", delivered.Event.Event.ApiKey);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Heartbeat_WildcardSubscription_ListsOnlyVisibleTopics()
    {
        await PublishAsync("tenant-b");
        await PublishAsync("system");
        await PublishAsync("tenant-a");
        using var call = Stream("ops");
        await SecurityStreams.SubscribeAsync(call, "all", "*");

        var heartbeat = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Heartbeat);

        Assert.Equal(["system", "tenant-a"], heartbeat.Heartbeat.TopicHeads.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["system", "tenant-a"], heartbeat.Heartbeat.TopicEpochs.Keys.Order(StringComparer.Ordinal));
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Subscribe_SystemTopic_OnlyForKeysThatListIt()
    {
        using var ops = Stream("ops");
        using var tenant = Stream("tenant-a");

        var allowed = await SecurityStreams.SubscribeAsync(ops, "sys", "system");
        var denied = await SecurityStreams.SubscribeAsync(tenant, "sys", "system");
        var published = await PublishAsync("system");
        var delivered = await Streams.NextAsync(ops.ResponseStream, MessageOneofCase.Event);

        Assert.Equal(MessageOneofCase.SubscriptionConfirm, allowed.MessageCase);
        Assert.Equal(ErrorCode.ErrorPermissionDenied, denied.Error.Code);
        Assert.Equal(published.Id, delivered.Event.Event.Id);
        await ops.RequestStream.CompleteAsync();
        await tenant.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Subscribe_OwnRawKeyAsTopic_ReadAsKeyNameOnTheWire()
    {
        using var call = Stream("tenant-a");

        var confirm = await SecurityStreams.SubscribeAsync(call, "raw", Key("tenant-a"));
        var published = await PublishAsync("tenant-a");
        var delivered = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);

        Assert.Equal(["tenant-a"], confirm.SubscriptionConfirm.Topics);
        Assert.Equal(["tenant-a"], confirm.SubscriptionConfirm.TopicHeads.Keys);
        Assert.Equal(published.Id, delivered.Event.Event.Id);
        Assert.Equal("tenant-a", delivered.Event.Event.ApiKey);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Subscribe_OtherTenantsRawKeyAsTopic_PermissionDeniedWithoutRepeatingIt()
    {
        using var call = Stream("tenant-a");

        var answer = await SecurityStreams.SubscribeAsync(call, "steal", Key("tenant-b"));
        var stillUsable = await SecurityStreams.SubscribeAsync(call, "own", "tenant-a");

        Assert.Equal(ErrorCode.ErrorPermissionDenied, answer.Error.Code);
        Assert.DoesNotContain(Key("tenant-b"), answer.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("tenant-b", answer.ToString(), StringComparison.Ordinal);
        Assert.Equal(MessageOneofCase.SubscriptionConfirm, stillUsable.MessageCase);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Publish_RawTenantKeyAsApiKey_FiledUnderKeyNameAndDeliveredWithIt()
    {
        using var call = Stream("tenant-a");
        await SecurityStreams.SubscribeAsync(call, "s", "tenant-a");

        var response = await PublishAsync(Key("tenant-a"));
        var delivered = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);

        Assert.Equal("tenant-a", response.Topic);
        Assert.Equal(response.Id, delivered.Event.Event.Id);
        Assert.Equal("tenant-a", delivered.Event.Event.ApiKey);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Publish_UnknownKeyShapedApiKey_InvalidArgumentWithoutRepeatingIt()
    {
        var unknown = TestKeys.NewKey("mau_");

        var error = await Assert.ThrowsAsync<RpcException>(() => PublishAsync(unknown));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.DoesNotContain(unknown, error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_TopicTheKeyDoesNotList_PermissionDenied()
    {
        var allowed = await PublishAsync("tenant-a", publisher: "pub-a");
        var error = await Assert.ThrowsAsync<RpcException>(() => PublishAsync("tenant-b", publisher: "pub-a"));
        var raw = await Assert.ThrowsAsync<RpcException>(() => PublishAsync(Key("tenant-b"), publisher: "pub-a"));

        Assert.Equal("tenant-a", allowed.Topic);
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, raw.StatusCode);
    }

    [Fact]
    public async Task PublishStream_TopicTheKeyDoesNotList_PermissionDeniedAfterTheAllowedOnes()
    {
        using var call = Gateway.Publisher.PublishStream(GatewayFixture.Auth(Key("pub-a")));
        await call.RequestStream.WriteAsync(new PublishRequest { Event = SecurityStreams.Event("tenant-a") });
        await call.RequestStream.WriteAsync(new PublishRequest { Event = SecurityStreams.Event("tenant-b") });

        var first = await Streams.ReadUntilAsync(call.ResponseStream, _ => true);
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());

        Assert.Equal("tenant-a", first.Topic);
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.StartsWith("request 1: ", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetReplayBuffer_InvisibleTopic_PermissionDeniedSameForMissingTopic()
    {
        await PublishAsync("tenant-b");

        var existing = await Assert.ThrowsAsync<RpcException>(() => ReplayAsync("tenant-a", "tenant-b"));
        var missing = await Assert.ThrowsAsync<RpcException>(() => ReplayAsync("tenant-a", "nobody"));
        var foreignKey = await Assert.ThrowsAsync<RpcException>(() => ReplayAsync("tenant-a", Key("tenant-b")));

        Assert.Equal(StatusCode.PermissionDenied, existing.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, missing.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, foreignKey.StatusCode);
        Assert.Equal(
            existing.Status.Detail.Replace("tenant-b", "T", StringComparison.Ordinal),
            missing.Status.Detail.Replace("nobody", "T", StringComparison.Ordinal));
        Assert.DoesNotContain(Key("tenant-b"), foreignKey.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetReplayBuffer_OwnRawKey_ReturnsOwnTopicWithNamesOnly()
    {
        var published = await PublishAsync("tenant-a");

        var reply = await ReplayAsync("tenant-a", Key("tenant-a"));

        Assert.Contains(reply.Events, e => e.Event.Id == published.Id);
        Assert.All(reply.Events, e => Assert.Equal("tenant-a", e.Event.ApiKey));
    }

    [Fact]
    public async Task Ack_CumulativeOnInvisibleTopic_PermissionDenied()
    {
        using var call = Stream("tenant-a");
        await SecurityStreams.SubscribeAsync(call, "s", "tenant-a");

        await call.RequestStream.WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "s",
                Cumulative = new CumulativeAck { Topic = "tenant-b", UpToSequenceNum = 10 },
            },
        });
        var error = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Error);

        Assert.Equal(ErrorCode.ErrorPermissionDenied, error.Error.Code);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task StreamEvents_PublisherOnlyKey_PermissionDenied()
    {
        using var call = Stream("pub");

        var stream = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
        var replay = await Assert.ThrowsAsync<RpcException>(() => ReplayAsync("pub", "pub"));

        Assert.Equal(StatusCode.PermissionDenied, stream.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, replay.StatusCode);
    }

    [Fact]
    public async Task Publish_SubscriberKey_PermissionDenied()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => PublishAsync("tenant-a", publisher: "tenant-a"));

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task GetKeys_Admin_ListsNamesFingerprintsAndTopicsNeverKeys()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/keys");
        request.Headers.Authorization = new("Bearer", Key("admin"));

        using var response = await Gateway.Admin.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(body);
        var ops = json.RootElement.EnumerateArray().Single(k => k.GetProperty("name").GetString() == "ops");
        Assert.Equal(["system", "tenant-a"], ops.GetProperty("topics").EnumerateArray().Select(t => t.GetString()));
        Assert.StartsWith("sha256:", ops.GetProperty("fingerprint").GetString(), StringComparison.Ordinal);
        Assert.All(Keys, k => Assert.DoesNotContain(Key(k.Name), body, StringComparison.Ordinal));
    }

    private Task<ReplayResponse> ReplayAsync(string caller, string topic) =>
        Gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = topic, MaxEvents = 100 },
            GatewayFixture.Auth(Key(caller))).ResponseAsync;
}
