using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Dashboard;

/// <summary><c>GET /internal/subscriptions</c> and <c>GET /internal/connections</c> on the admin port: what the
/// dashboard shows, behind the admin key.</summary>
public sealed class AdminTopologyTests : IAsyncLifetime
{
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync() => _gateway = await GatewayFixture.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    public static TheoryData<string> Paths => new() { "/internal/subscriptions", "/internal/connections" };

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Get_NoKey_UnauthorizedWithErrorOnly(string path)
    {
        using var response = await GetAsync(_gateway, path, null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        await AssertOnlyErrorAsync(response);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Get_WrongKey_UnauthorizedWithErrorOnly(string path)
    {
        using var response = await GetAsync(_gateway, path, TestKeys.NewKey());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await AssertOnlyErrorAsync(response);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Get_DisabledAdminKey_Unauthorized(string path)
    {
        using var response = await GetAsync(_gateway, path, _gateway.Keys.Disabled);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await AssertOnlyErrorAsync(response);
    }

    [Theory]
    [InlineData("/internal/subscriptions", "subscriber")]
    [InlineData("/internal/subscriptions", "publisher")]
    [InlineData("/internal/connections", "subscriber")]
    [InlineData("/internal/connections", "publisher")]
    public async Task Get_NonAdminKey_ForbiddenWithErrorOnly(string path, string role)
    {
        // A subscription of the caller's own exists: a refusal must not show it either.
        using var call = await SubscribeAsync("own-sub", "topology-own");
        var key = role == "subscriber" ? _gateway.Keys.Subscriber : _gateway.Keys.Publisher;

        using var response = await GetAsync(_gateway, path, key);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var body = await AssertOnlyErrorAsync(response);
        Assert.DoesNotContain("own-sub", body, StringComparison.Ordinal);
        Assert.DoesNotContain("test-subscriber", body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Get_OnGrpcPort_NotFound(string path)
    {
        using var client = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{_gateway.Ports.Grpc}"),
            Timeout = GatewayFixture.Timeout,
        };
        using var request = new HttpRequestMessage(HttpMethod.Get, path)
        {
            // h2c with prior knowledge: the gRPC port speaks HTTP/2 only.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Authorization = new("Bearer", _gateway.Keys.Admin);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task GetSubscriptions_UnackedDeliveries_ShowsInFlightLagAndAge()
    {
        using var call = await SubscribeAsync("dash-sub", "topology-a");
        for (var i = 0; i < 3; i++)
        {
            await _gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event("topology-a") },
                GatewayFixture.Auth(_gateway.Keys.Publisher));
        }

        // Three deliveries read and not acknowledged.
        await Streams.ReadUntilAsync(call.ResponseStream, m => m.Event?.SequenceNum == 3);
        using var response = await GetAsync(_gateway, "/internal/subscriptions", _gateway.Keys.Admin);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var sub = Assert.Single(json.RootElement.GetProperty("subscriptions").EnumerateArray());
        Assert.Equal("dash-sub", sub.GetProperty("id").GetString());
        Assert.Equal("test-subscriber", sub.GetProperty("key_name").GetString());
        Assert.Equal(["topology-a"], sub.GetProperty("requested_topics").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(3, sub.GetProperty("in_flight").GetInt32());
        Assert.Equal(3, sub.GetProperty("lag").GetInt64());
        Assert.Equal(0, sub.GetProperty("redeliveries").GetInt64());
        Assert.True(sub.GetProperty("oldest_unacked_age_s").GetDouble() >= 0);
        var topic = Assert.Single(sub.GetProperty("topics").EnumerateArray());
        Assert.Equal("topology-a", topic.GetProperty("topic").GetString());
        Assert.Equal(3, topic.GetProperty("head").GetInt64());
        Assert.Equal(0, topic.GetProperty("acked_through").GetInt64());
        Assert.False(string.IsNullOrEmpty(sub.GetProperty("connection_id").GetString()));
    }

    [Fact]
    public async Task GetSubscriptions_NothingInFlight_AgeIsNull()
    {
        using var call = await SubscribeAsync("idle-sub", "topology-idle");

        using var response = await GetAsync(_gateway, "/internal/subscriptions", _gateway.Keys.Admin);

        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var sub = Assert.Single(json.RootElement.GetProperty("subscriptions").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, sub.GetProperty("oldest_unacked_age_s").ValueKind);
        Assert.Equal(0, sub.GetProperty("lag").GetInt64());
    }

    [Fact]
    public async Task GetConnections_EventAndPublishStreams_JoinedWithPeerAndBrokerFigures()
    {
        using var call = await SubscribeAsync("conn-sub", "topology-c");
        using var publish = _gateway.Publisher.PublishStream(GatewayFixture.Auth(_gateway.Keys.Publisher));
        await publish.RequestStream.WriteAsync(new PublishRequest { Event = Streams.Event("topology-c") });
        // Answered: the publish stream is registered.
        Assert.True(await publish.ResponseStream.MoveNext(CancellationToken.None));

        using var response = await GetAsync(_gateway, "/internal/connections", _gateway.Keys.Admin);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var all = json.RootElement.GetProperty("connections").EnumerateArray().ToList();
        Assert.Equal(2, all.Count);
        var events = Assert.Single(all, c => c.GetProperty("kind").GetString() == "events");
        Assert.Equal("test-subscriber", events.GetProperty("key_name").GetString());
        Assert.StartsWith("ipv4:127.0.0.1:", events.GetProperty("peer").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, events.GetProperty("subscriptions").GetInt32());
        Assert.True(events.GetProperty("open_for_s").GetDouble() >= 0);
        var opened = events.GetProperty("opened_at").GetDateTimeOffset();
        Assert.InRange(opened, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        var publisher = Assert.Single(all, c => c.GetProperty("kind").GetString() == "publish");
        Assert.Equal("test-publisher", publisher.GetProperty("key_name").GetString());
        Assert.Equal(JsonValueKind.Null, publisher.GetProperty("subscriptions").ValueKind);
        await publish.RequestStream.CompleteAsync();
    }

    private async Task<Grpc.Core.AsyncDuplexStreamingCall<ClientMessage, ServerMessage>> SubscribeAsync(
        string id,
        string topic)
    {
        var call = _gateway.Streams.StreamEvents(GatewayFixture.Auth(_gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe(id, topic));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        return call;
    }

    /// <summary>An admin API GET with an optional bearer key.</summary>
    internal static Task<HttpResponseMessage> GetAsync(GatewayFixture gateway, string path, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return gateway.Admin.SendAsync(request);
    }

    /// <summary>A refusal's body is <c>{"error": "..."}</c> and nothing else.</summary>
    private static async Task<string> AssertOnlyErrorAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        var property = Assert.Single(json.RootElement.EnumerateObject());
        Assert.Equal("error", property.Name);
        return body;
    }
}
