using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Reflection.V1Alpha;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests;

/// <summary><c>marieai.events.AdminService</c> on the gRPC port: the admin HTTP API's figures and key operations,
/// role admin only.</summary>
public sealed class AdminServiceTests : IAsyncLifetime
{
    private GatewayFixture _gateway = null!;

    private AdminService.AdminServiceClient Admin => new(_gateway.Channel);

    public async Task InitializeAsync() => _gateway = await GatewayFixture.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task GetStats_AdminKey_SameFiguresAsHttpStats()
    {
        await _gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("admin-topic") },
            GatewayFixture.Auth(_gateway.Keys.Publisher));
        await _gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("admin-topic") },
            GatewayFixture.Auth(_gateway.Keys.Publisher));

        var grpc = await Admin.GetStatsAsync(new GetStatsRequest(), GatewayFixture.Auth(_gateway.Keys.Admin));
        using var http = await _gateway.GetStatsAsync(_gateway.Keys.Admin);

        Assert.Equal(HttpStatusCode.OK, http.StatusCode);
        var httpJson = JsonNode.Parse(await http.Content.ReadAsStringAsync())!;
        Assert.True(
            JsonNode.DeepEquals(httpJson, JsonNode.Parse(grpc.Json)),
            $"gRPC json {grpc.Json} differs from HTTP {httpJson.ToJsonString()}");
        Assert.Equal(httpJson["connections"]!.GetValue<int>(), grpc.Connections);
        Assert.Equal(httpJson["subscriptions"]!.GetValue<int>(), grpc.Subscriptions);
        Assert.Equal(httpJson["topics"]!.GetValue<int>(), grpc.Topics);
        Assert.Equal(httpJson["in_flight_events"]!.GetValue<long>(), grpc.InFlightEvents);
        Assert.Equal(2, httpJson["events_published"]!.GetValue<long>());
        Assert.Equal(2, grpc.EventsPublished);
        Assert.Equal(httpJson["events_delivered"]!.GetValue<long>(), grpc.EventsDelivered);
        Assert.Equal(httpJson["backend"]!.GetValue<string>(), grpc.Backend);
        Assert.Equal(httpJson["gateway"]!.GetValue<string>(), grpc.Gateway);
        Assert.Equal(2, grpc.TopicStats["admin-topic"].Head);
        Assert.Equal(2, grpc.TopicStats["admin-topic"].Buffered);
        Assert.Equal(
            httpJson["topic_stats"]!["admin-topic"]!["head"]!.GetValue<long>(),
            grpc.TopicStats["admin-topic"].Head);
    }

    [Theory]
    [InlineData("subscriber")]
    [InlineData("publisher")]
    public async Task GetStats_NonAdminKey_PermissionDenied(string role)
    {
        var key = role == "subscriber" ? _gateway.Keys.Subscriber : _gateway.Keys.Publisher;

        var error = await Assert.ThrowsAsync<RpcException>(
            () => Admin.GetStatsAsync(new GetStatsRequest(), GatewayFixture.Auth(key)).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task GetStats_NoKey_Unauthenticated()
    {
        var error = await Assert.ThrowsAsync<RpcException>(
            () => Admin.GetStatsAsync(new GetStatsRequest(), GatewayFixture.Auth(null)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task ListKeys_SubscriberKey_PermissionDenied()
    {
        var error = await Assert.ThrowsAsync<RpcException>(
            () =>
                Admin.ListKeysAsync(
                    new ListKeysRequest(),
                    GatewayFixture.Auth(_gateway.Keys.Subscriber)).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task ListKeys_AdminKey_SameKeysAsHttpNeverAKey()
    {
        var grpc = await Admin.ListKeysAsync(new ListKeysRequest(), GatewayFixture.Auth(_gateway.Keys.Admin));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/keys");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _gateway.Keys.Admin);
        using var http = await _gateway.Admin.SendAsync(request);
        using var json = JsonDocument.Parse(await http.Content.ReadAsStringAsync());

        var httpNames = json.RootElement.EnumerateArray().Select(k => k.GetProperty("name").GetString()).ToList();
        Assert.Equal(httpNames, grpc.Keys.Select(k => k.Name));
        Assert.Equal(
            json.RootElement.EnumerateArray().Select(k => k.GetProperty("fingerprint").GetString()),
            grpc.Keys.Select(k => k.Fingerprint));
        Assert.DoesNotContain(_gateway.Keys.Admin, grpc.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_gateway.Keys.Subscriber, grpc.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DisableKey_AdminKey_KeyRefusedUntilEnabled()
    {
        const string subscriber = "test-subscriber";

        var disabled = await Admin.DisableKeyAsync(
            new KeyStateRequest { Name = subscriber },
            GatewayFixture.Auth(_gateway.Keys.Admin));
        var refused = await Assert.ThrowsAsync<RpcException>(() =>
            _gateway.Streams.GetReplayBufferAsync(
                new ReplayRequest { Topic = "t" },
                GatewayFixture.Auth(_gateway.Keys.Subscriber)).ResponseAsync);
        var enabled = await Admin.EnableKeyAsync(
            new KeyStateRequest { Name = subscriber },
            GatewayFixture.Auth(_gateway.Keys.Admin));
        var replay = await _gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "t" },
            GatewayFixture.Auth(_gateway.Keys.Subscriber));

        Assert.True(disabled.Key.DisabledAtRunTime);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.False(enabled.Key.DisabledAtRunTime);
        Assert.Equal(0, replay.TopicHead);
    }

    [Fact]
    public async Task DisableKey_UnknownName_NotFound()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Admin.DisableKeyAsync(
                new KeyStateRequest { Name = "no-such-key" },
                GatewayFixture.Auth(_gateway.Keys.Admin)).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task ReflectionListServices_Default_ListsAdminService()
    {
        var reflection = new ServerReflection.ServerReflectionClient(_gateway.Channel);
        using var call = reflection.ServerReflectionInfo(GatewayFixture.Auth(null));
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.WriteAsync(
            new ServerReflectionRequest { FileContainingSymbol = "marieai.events.AdminService" });
        await call.RequestStream.CompleteAsync();

        var list = await Streams.ReadUntilAsync(call.ResponseStream, _ => true);
        var file = await Streams.ReadUntilAsync(call.ResponseStream, _ => true);

        Assert.Contains("marieai.events.AdminService", list.ListServicesResponse.Service.Select(s => s.Name));
        Assert.NotEmpty(file.FileDescriptorResponse.FileDescriptorProto);
    }
}
