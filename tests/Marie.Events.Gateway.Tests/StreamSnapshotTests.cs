using Marie.Events.Broker;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Hosting;
using Marie.Events.Gateway.Streams;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Gateway.Tests;

/// <summary>The open streams' snapshot (<see cref="StreamRegistry.Snapshot"/>) and its join with the broker's
/// connections for <c>GET /internal/connections</c>.</summary>
public sealed class StreamSnapshotTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Snapshot_TwoStreams_OldestFirstWithPeerKeyAndOpenedTime()
    {
        var (registry, keys, time) = NewRegistry();
        using var stop = new CancellationTokenSource();
        using var first = registry.Open(keys.FindByName("reader")!, StreamKind.Events, "s1", stop, "ipv4:10.0.0.7:1");
        time.Advance(TimeSpan.FromSeconds(5));
        using var second = registry.Open(keys.FindByName("writer")!, StreamKind.Publish, "s2", stop);

        var snapshot = registry.Snapshot();

        Assert.Equal(["s1", "s2"], snapshot.Select(s => s.Id));
        Assert.Equal(new OpenStreamSnapshot("s1", StreamKind.Events, "reader", "ipv4:10.0.0.7:1", Start), snapshot[0]);
        Assert.Equal("unknown", snapshot[1].Peer);
        Assert.Equal(StreamKind.Publish, snapshot[1].Kind);
        Assert.Equal(Start.AddSeconds(5), snapshot[1].OpenedAt);
    }

    [Fact]
    public void Snapshot_StreamEnded_NotListed()
    {
        var (registry, keys, _) = NewRegistry();
        using var stop = new CancellationTokenSource();
        using var kept = registry.Open(keys.FindByName("reader")!, StreamKind.Events, "kept", stop, "p");
        var ended = registry.Open(keys.FindByName("reader")!, StreamKind.Events, "ended", stop, "p");

        ended.Dispose();

        Assert.Equal(["kept"], registry.Snapshot().Select(s => s.Id));
    }

    [Fact]
    public void Join_StreamsAndBrokerConnections_MatchedByIdRestListedWithoutPeer()
    {
        OpenStreamSnapshot[] streams =
        [
            new("c1", StreamKind.Events, "reader", "ipv4:10.0.0.7:1", Start),
            new("p1", StreamKind.Publish, "writer", "ipv4:10.0.0.8:2", Start.AddSeconds(2)),
        ];
        ConnectionSnapshot[] connections =
        [
            new("c1", "reader", Subscriptions: 2, InFlight: 7, QueuedReplies: 1),
            new("gone", "reader", Subscriptions: 1, InFlight: 0, QueuedReplies: 0),
        ];

        var joined = ConnectionsResponse.Join(streams, connections, Start.AddSeconds(10)).Connections;

        Assert.Equal(["c1", "p1", "gone"], joined.Select(c => c.Id));
        Assert.Equal(
            new ConnectionResponse("c1", "events", "reader", "ipv4:10.0.0.7:1", Start, 10, 2, 7, 1),
            joined[0]);
        Assert.Equal(
            new ConnectionResponse(
                "p1", "publish", "writer", "ipv4:10.0.0.8:2", Start.AddSeconds(2), 8, null, null, null),
            joined[1]);
        Assert.Equal(new ConnectionResponse("gone", "events", "reader", null, null, null, 1, 0, 0), joined[2]);
    }

    private static (StreamRegistry Registry, APIKeyManager Keys, FakeTimeProvider Time) NewRegistry()
    {
        var keys = new APIKeyManager([
            ApiKeyRegistration.FromKey("reader", ApiKeyFactory.Create("x").ApiKey, true, ApiKeyRoles.Subscriber, null),
            ApiKeyRegistration.FromKey("writer", ApiKeyFactory.Create("x").ApiKey, true, ApiKeyRoles.Publisher, null),
        ]);
        var time = new FakeTimeProvider(Start);
        var registry = new StreamRegistry(
            keys,
            Options.Create(new LimitsOptions()),
            NullLogger<StreamRegistry>.Instance,
            time);
        return (registry, keys, time);
    }
}
