using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>Editing the configuration file, or an admin call, takes effect on open streams without a restart.</summary>
public sealed class RevocationTests(ITestOutputHelper output)
{
    private static KeySpec[] BaseKeys() =>
    [
        new("tenant-a", ["subscriber"], ["tenant-a", "shared"]),
        new("pub", ["publisher"], ["*"]),
        new("admin", ["admin"]),
    ];

    private static Task<TenantGateway> StartAsync(KeySpec[] keys) =>
        // Short redelivery so that "nothing redelivered after" is tested, not merely waited out.
        TenantGateway.StartAsync(keys, s =>
        {
            s.Config["toast:grpc:broker:ack_timeout_s"] = "0.2";
            s.Config["toast:grpc:broker:redelivery_delay_s"] = "0.1";
        });

    private static GrpcEventBroker Broker(TenantGateway t) =>
        t.Gateway.App.Services.GetRequiredService<GrpcEventBroker>();

    [Fact]
    public async Task Reload_KeyDisabled_StreamEndsUnauthenticatedAndNothingAfter()
    {
        var keys = BaseKeys();
        await using var t = await StartAsync(keys);
        using var call = t.Gateway.Streams.StreamEvents(GatewayFixture.Auth(t.KeyOf("tenant-a")));
        await SecurityStreams.SubscribeAsync(call, "s", "tenant-a");
        await PublishAsync(t, "tenant-a");
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event); // in flight, never acked

        var clock = Stopwatch.StartNew();
        await t.RewriteAsync([keys[0] with { Enabled = false }, keys[1], keys[2]]);
        var (end, _) = await SecurityStreams.ReadToEndAsync(call.ResponseStream);
        output.WriteLine($"stream ended {clock.ElapsedMilliseconds} ms after the file was replaced");

        Assert.Equal(StatusCode.Unauthenticated, end?.StatusCode);
        await TenantGateway.WaitForAsync(
            () => Broker(t).Stats() is { Connections: 0, InFlightEvents: 0 },
            "the stream's state to be released");
        var redelivered = Broker(t).Stats().EventsRedelivered;
        await PublishAsync(t, "tenant-a");
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReplayAsync(t, "tenant-a"));
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Equal(redelivered, Broker(t).Stats().EventsRedelivered);
        Assert.Contains(
            t.Gateway.Logs.Entries,
            e => e.EventId.Id == 6005 && e.Message.Contains("'tenant-a'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reload_KeyRemoved_StreamEndsUnauthenticated()
    {
        var keys = BaseKeys();
        await using var t = await StartAsync(keys);
        using var call = t.Gateway.Streams.StreamEvents(GatewayFixture.Auth(t.KeyOf("tenant-a")));
        await SecurityStreams.SubscribeAsync(call, "s", "tenant-a");

        await t.RewriteAsync([keys[1], keys[2]]);
        var (end, _) = await SecurityStreams.ReadToEndAsync(call.ResponseStream);

        Assert.Equal(StatusCode.Unauthenticated, end?.StatusCode);
    }

    [Fact]
    public async Task Reload_TopicRemoved_SubscriptionClosedStreamStaysOpen()
    {
        var keys = BaseKeys();
        await using var t = await StartAsync(keys);
        using var call = t.Gateway.Streams.StreamEvents(GatewayFixture.Auth(t.KeyOf("tenant-a")));
        await SecurityStreams.SubscribeAsync(call, "shared-sub", "shared");
        await SecurityStreams.SubscribeAsync(call, "own-sub", "tenant-a");
        await PublishAsync(t, "shared");
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);

        await t.RewriteAsync([keys[0] with { Topics = ["tenant-a"] }, keys[1], keys[2]]);
        var notice = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Error);
        await PublishAsync(t, "shared");
        var own = await PublishAsync(t, "tenant-a");
        var next = await Streams.ReadUntilAsync(call.ResponseStream, m => m.MessageCase == MessageOneofCase.Event);

        Assert.Equal(ErrorCode.ErrorPermissionDenied, notice.Error.Code);
        Assert.Equal("shared-sub", notice.Error.SubscriptionId);
        Assert.Equal("access_revoked", notice.Error.Details["reason"]);
        Assert.Equal(own.Id, next.Event.Event.Id); // neither the new shared event nor a redelivery of the old one
        var denied = await SecurityStreams.SubscribeAsync(call, "again", "shared");
        Assert.Equal(ErrorCode.ErrorPermissionDenied, denied.Error.Code);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Reload_TopicAdded_WildcardSubscriptionJoinsIt()
    {
        var keys = BaseKeys();
        await using var t = await StartAsync(keys);
        await PublishAsync(t, "extra");
        using var call = t.Gateway.Streams.StreamEvents(GatewayFixture.Auth(t.KeyOf("tenant-a")));
        await SecurityStreams.SubscribeAsync(call, "all", "*");

        await t.RewriteAsync([keys[0] with { Topics = ["tenant-a", "shared", "extra"] }, keys[1], keys[2]]);
        var published = await PublishAsync(t, "extra");
        var delivered = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);

        Assert.Equal(published.Id, delivered.Event.Event.Id);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task Reload_RoleLost_StreamEndsPermissionDenied()
    {
        var keys = BaseKeys();
        await using var t = await StartAsync(keys);
        using var call = t.Gateway.Streams.StreamEvents(GatewayFixture.Auth(t.KeyOf("tenant-a")));
        await SecurityStreams.SubscribeAsync(call, "s", "tenant-a");

        await t.RewriteAsync([keys[0] with { Roles = ["publisher"] }, keys[1], keys[2]]);
        var (end, _) = await SecurityStreams.ReadToEndAsync(call.ResponseStream);

        Assert.Equal(StatusCode.PermissionDenied, end?.StatusCode);
    }

    [Fact]
    public async Task Reload_KeyAdded_NewKeyAcceptedWithoutRestart()
    {
        var keys = BaseKeys();
        await using var t = await StartAsync(keys);
        var added = new KeySpec("tenant-new", ["subscriber"], Hashed: true);
        var before = await Assert.ThrowsAsync<RpcException>(() => ReplayAsync(t, "tenant-new", added.Key));

        await t.RewriteAsync([.. keys, added]);
        var after = await ReplayAsync(t, "tenant-new", added.Key);

        Assert.Equal(StatusCode.Unauthenticated, before.StatusCode);
        Assert.Equal(0, after.TopicHead);
    }

    [Fact]
    public async Task Reload_InvalidFile_PreviousKeysStayAndErrorLogged()
    {
        var keys = BaseKeys();
        await using var t = await StartAsync(keys);
        using var call = t.Gateway.Streams.StreamEvents(GatewayFixture.Auth(t.KeyOf("tenant-a")));
        await SecurityStreams.SubscribeAsync(call, "s", "tenant-a");

        // Valid YAML with an invalid key entry, then YAML that does not parse: neither changes anything.
        await t.ReplaceFileAsync(TenantGateway.Yaml([keys[0], keys[0] with { Name = "copy" }]));
        await t.Gateway.Logs.WaitForAsync(e => e.EventId.Id == 6004, GatewayFixture.Timeout);
        await t.ReplaceFileAsync("auth:\n  keys: [ {name: \"broken\"\n");
        await TenantGateway.WaitForAsync(
            () => t.Gateway.Logs.Entries.Count(e => e.EventId.Id == 6004) >= 2,
            "the second rejection");
        await PublishAsync(t, "tenant-a");
        var delivered = await Streams.NextAsync(call.ResponseStream, MessageOneofCase.Event);

        Assert.Equal("tenant-a", delivered.Event.Event.ApiKey);
        var rejection = t.Gateway.Logs.Entries.First(e => e.EventId.Id == 6004);
        Assert.Contains("has the same api_key as", rejection.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(t.KeyOf("tenant-a"), rejection.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(t.Gateway.Logs.Entries, e => e.EventId.Id == 6003);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task AdminDisable_OpenStreams_EndUnauthenticatedAndEnableRestoresTheKey()
    {
        await using var t = await StartAsync(BaseKeys());
        using var call = t.Gateway.Streams.StreamEvents(GatewayFixture.Auth(t.KeyOf("tenant-a")));
        await SecurityStreams.SubscribeAsync(call, "s", "tenant-a");
        using var publishing = t.Gateway.Publisher.PublishStream(GatewayFixture.Auth(t.KeyOf("pub")));
        await publishing.RequestStream.WriteAsync(new PublishRequest { Event = SecurityStreams.Event("tenant-a") });
        await Streams.ReadUntilAsync(publishing.ResponseStream, _ => true);

        using var disabled = await AdminPostAsync(t, "/internal/keys/tenant-a/disable");
        var body = await disabled.Content.ReadAsStringAsync();
        var (end, _) = await SecurityStreams.ReadToEndAsync(call.ResponseStream);
        using var disablePublisher = await AdminPostAsync(t, "/internal/keys/pub/disable");
        var publishEnd = await Assert.ThrowsAsync<RpcException>(() => publishing.ResponseStream.MoveNext());
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReplayAsync(t, "tenant-a"));
        using var enabled = await AdminPostAsync(t, "/internal/keys/tenant-a/enable");
        var accepted = await ReplayAsync(t, "tenant-a");

        Assert.Equal(HttpStatusCode.OK, disabled.StatusCode);
        Assert.Contains("\"streams_closed\":1", body, StringComparison.Ordinal);
        Assert.Contains("\"disabled_at_run_time\":true", body, StringComparison.Ordinal);
        Assert.Equal(StatusCode.Unauthenticated, end?.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, publishEnd.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, enabled.StatusCode);
        Assert.True(accepted.TopicHead >= 1);
        Assert.Contains(
            t.Gateway.Logs.Entries,
            e => e.EventId.Id == 6007 && e.Message.Contains("'admin'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AdminDisable_BadCallers_RefusedAndKeyUntouched()
    {
        await using var t = await StartAsync(BaseKeys());

        using var noKey = await AdminPostAsync(t, "/internal/keys/tenant-a/disable", key: null);
        using var notAdmin = await AdminPostAsync(t, "/internal/keys/tenant-a/disable", key: t.KeyOf("tenant-a"));
        using var unknown = await AdminPostAsync(t, "/internal/keys/nobody/disable");
        var stillValid = await ReplayAsync(t, "tenant-a");

        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, notAdmin.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(0, stillValid.TopicHead);
    }

    [Fact]
    public async Task AdminDisable_OnGrpcPort_NotFound()
    {
        await using var t = await StartAsync(BaseKeys());
        using var client = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{t.Gateway.Ports.Grpc}"),
            Timeout = GatewayFixture.Timeout,
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/internal/keys/tenant-a/disable")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Authorization = new("Bearer", t.KeyOf("admin"));

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(0, (await ReplayAsync(t, "tenant-a")).TopicHead);
    }

    private static Task<PublishResponse> PublishAsync(TenantGateway t, string topic) =>
        t.Gateway.Publisher.PublishAsync(
            new PublishRequest { Event = SecurityStreams.Event(topic) },
            GatewayFixture.Auth(t.KeyOf("pub"))).ResponseAsync;

    private static Task<ReplayResponse> ReplayAsync(TenantGateway t, string topic, string? key = null) =>
        t.Gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = topic },
            GatewayFixture.Auth(key ?? t.KeyOf("tenant-a"))).ResponseAsync;

    private static async Task<HttpResponseMessage> AdminPostAsync(TenantGateway t, string path, string? key = "admin")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (key is not null)
        {
            request.Headers.Authorization = new("Bearer", key == "admin" ? t.KeyOf("admin") : key);
        }

        return await t.Gateway.Admin.SendAsync(request);
    }
}
