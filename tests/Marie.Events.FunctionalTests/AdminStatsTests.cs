using System.Net;
using System.Text.Json;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests;

/// <summary><c>GET /internal/stats</c> on the admin port.</summary>
public sealed class AdminStatsTests : IAsyncLifetime
{
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync() => _gateway = await GatewayFixture.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task GetStats_NoKey_Unauthorized()
    {
        using var response = await _gateway.GetStatsAsync(null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
    }

    [Fact]
    public async Task GetStats_UnknownKey_Unauthorized()
    {
        using var response = await _gateway.GetStatsAsync(TestKeys.NewKey());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task GetStats_DisabledAdminKey_Unauthorized()
    {
        using var response = await _gateway.GetStatsAsync(_gateway.Keys.Disabled);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("subscriber")]
    [InlineData("publisher")]
    public async Task GetStats_NonAdminKey_Forbidden(string role)
    {
        var key = role == "subscriber" ? _gateway.Keys.Subscriber : _gateway.Keys.Publisher;

        using var response = await _gateway.GetStatsAsync(key);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task GetStats_OnGrpcPort_NotFound()
    {
        using var client = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{_gateway.Ports.Grpc}"),
            Timeout = GatewayFixture.Timeout,
        };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/stats")
        {
            // h2c with prior knowledge: the gRPC port speaks HTTP/2 only.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Authorization = new("Bearer", _gateway.Keys.Admin);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public void Ports_BothBound_DifferAndNonZero()
    {
        Assert.NotEqual(0, _gateway.Ports.Grpc);
        Assert.NotEqual(0, _gateway.Ports.Admin);
        Assert.NotEqual(_gateway.Ports.Grpc, _gateway.Ports.Admin);
    }

    // ------------------------------------------------------------ needs the broker

    [Fact]
    public async Task GetStats_AdminKeyAfterPublish_ReturnsSnakeCaseShape()
    {
        await _gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("stats-topic") },
            GatewayFixture.Auth(_gateway.Keys.Publisher));

        using var response = await _gateway.GetStatsAsync(_gateway.Keys.Admin);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        foreach (var name in new[]
                 {
                     "connections", "subscriptions", "topics", "in_flight_events", "topic_stats", "events_published",
                     "events_delivered", "events_redelivered", "events_dropped", "events_lost", "backpressure_signals",
                     "events_acked",
                 })
        {
            Assert.True(root.TryGetProperty(name, out _), $"missing {name}");
        }

        var topic = root.GetProperty("topic_stats").GetProperty("stats-topic");
        Assert.Equal(1, topic.GetProperty("head").GetInt64());
        Assert.Equal(1, topic.GetProperty("buffered").GetInt32());
        Assert.Equal(1, root.GetProperty("events_published").GetInt64());
    }
}
