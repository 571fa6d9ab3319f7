using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Gateway.Auth;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>The first run's development keys see every topic, so the README's tour works as written.</summary>
public sealed class DevKeyTopicsTests
{
    [Fact]
    public async Task DevKeys_PublisherAndSubscriber_PublishAndReplayAnyTopic()
    {
        using var state = new TempDirectory();
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.ConfigureKeys = false;
            s.StateDir = state.Path;
        });
        var keys = DevKeyStore.Load(state.File(DevKeyStore.FileName)).ToDictionary(k => k.Roles[0], k => k.ApiKey);

        var published = await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("tenant-a") },
            GatewayFixture.Auth(keys["publisher"]));
        var replay = await gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "tenant-a" },
            GatewayFixture.Auth(keys["subscriber"]));

        Assert.Equal("tenant-a", published.Topic);
        Assert.Equal(published.Id, Assert.Single(replay.Events).Event.Id);
    }
}
