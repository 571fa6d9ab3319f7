using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.FunctionalTests;

/// <summary>The auth interceptor: runs before the services (and so before the broker).</summary>
public sealed class AuthTests : IAsyncLifetime
{
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync() => _gateway = await GatewayFixture.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    public static TheoryData<string?> RefusedAuthorizations => new()
    {
        null,                                        // no metadata
        "Bearer",                                    // no token
        "Bearer not-a-key",                          // malformed
        "Basic " + TestKeys.NewKey(),                // another scheme
        "Bearer " + TestKeys.NewKey(),               // well-formed, unknown
        "Bearer " + TestKeys.NewKey("mau_"),         // well-formed user key, unknown
        "Bearer mas_" + new string('x', 60),         // too long
    };

    [Theory]
    [MemberData(nameof(RefusedAuthorizations))]
    public async Task GetReplayBuffer_BadAuthorization_Unauthenticated(string? authorization)
    {
        var headers = authorization is null ? new Metadata() : new Metadata { { "authorization", authorization } };

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _gateway.Streams.GetReplayBufferAsync(
                new ReplayRequest { Topic = "t" },
                headers,
                DateTime.UtcNow.Add(GatewayFixture.Timeout)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task GetReplayBuffer_DisabledKey_Unauthenticated()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _gateway.Streams.GetReplayBufferAsync(
                new ReplayRequest { Topic = "t" },
                GatewayFixture.Auth(_gateway.Keys.Disabled)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task StreamEvents_NoToken_UnauthenticatedAndSeedWarningLogged()
    {
        using var call = _gateway.Streams.StreamEvents(GatewayFixture.Auth(null));

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        var entry = await _gateway.Logs.WaitForAsync(e => e.EventId.Id == 2001, GatewayFixture.Timeout);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Equal("gRPC auth failed: invalid or missing token", entry.Message);
    }

    [Fact]
    public async Task StreamEvents_UnknownKey_Unauthenticated()
    {
        using var call = _gateway.Streams.StreamEvents(GatewayFixture.Auth(TestKeys.NewKey()));

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task Publish_NoToken_Unauthenticated()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event("t") },
                GatewayFixture.Auth(null)).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task Publish_SubscriberKey_PermissionDenied()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event("t") },
                GatewayFixture.Auth(_gateway.Keys.Subscriber)).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task Publish_UserRoleKey_PermissionDeniedAsSubscriber()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event("t") },
                GatewayFixture.Auth(_gateway.Keys.User)).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }

    [Fact]
    public async Task PublishStream_SubscriberKey_PermissionDenied()
    {
        using var call = _gateway.Publisher.PublishStream(GatewayFixture.Auth(_gateway.Keys.Subscriber));

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());

        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
    }
}
