using System.Globalization;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// One Redis primary, one replica and one <c>redis-sentinel</c> (quorum 1, the primary judged down after one second)
/// on loopback, no persistence. The gateways connect through the sentinel
/// (<c>sentinel:port,serviceName=...</c>), which promotes the replica when the primary dies.
/// </summary>
public sealed class RedisSentinelSet : IAsyncDisposable
{
    /// <summary>The service name the sentinel monitors.</summary>
    public const string ServiceName = "marie";

    /// <summary>down-after-milliseconds: how long the primary is unreachable before the sentinel fails it
    /// over.</summary>
    private const int DownAfterMs = 1000;

    private RedisSentinelSet(RedisProcess primary, RedisProcess replica, RedisProcess sentinel)
    {
        Primary = primary;
        Replica = replica;
        Sentinel = sentinel;
    }

    public RedisProcess Primary { get; }

    public RedisProcess Replica { get; }

    public RedisProcess Sentinel { get; }

    /// <summary>The StackExchange.Redis configuration string: the sentinel and the service name.</summary>
    public string Connection => $"{Sentinel.Endpoint},serviceName={ServiceName}";

    public static async Task<RedisSentinelSet> StartAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), "marie-events-tests", "rsentinel-" + Guid.NewGuid().ToString("N"));
        var primary = Server(root, "primary", RedisServer.FreePort());
        var replica = Server(root, "replica", RedisServer.FreePort());
        var sentinelPort = RedisServer.FreePort();
        var sentinelDir = Path.Combine(root, "sentinel");
        Directory.CreateDirectory(sentinelDir);
        var config = Path.Combine(sentinelDir, "sentinel.conf");
        File.WriteAllText(config, string.Join('\n',
            $"port {sentinelPort}",
            "bind 127.0.0.1",
            $"dir {sentinelDir}",
            $"sentinel monitor {ServiceName} 127.0.0.1 {primary.Port} 1",
            $"sentinel down-after-milliseconds {ServiceName} {DownAfterMs}",
            // A failover that stalls is tried again after this long (ms); the tests' run is far shorter.
            $"sentinel failover-timeout {ServiceName} 5000",
            "") );
        var sentinel = new RedisProcess("redis-sentinel", sentinelPort, sentinelDir, [config]);
        var set = new RedisSentinelSet(primary, replica, sentinel);
        try
        {
            await primary.StartAsync();
            await replica.StartAsync("--replicaof", "127.0.0.1", primary.Port.ToString(CultureInfo.InvariantCulture));
            await sentinel.StartAsync();
            return set;
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
    }

    /// <summary>The port of the primary the sentinel names now.</summary>
    public async Task<int?> PrimaryPortAsync()
    {
        var reply = await Sentinel.TryCommandAsync("SENTINEL", "GET-MASTER-ADDR-BY-NAME", ServiceName);
        var lines = reply?.Split("\r\n");
        return lines is { Length: >= 5 } && int.TryParse(lines[4], CultureInfo.InvariantCulture, out var port)
            ? port
            : null;
    }

    private static RedisProcess Server(string root, string name, int port)
    {
        var dir = Path.Combine(root, name);
        return new RedisProcess("redis-server", port, dir,
        [
            "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", dir,
        ]);
    }

    public async ValueTask DisposeAsync()
    {
        await Sentinel.DisposeAsync();
        await Replica.DisposeAsync();
        await Primary.DisposeAsync();
    }
}
