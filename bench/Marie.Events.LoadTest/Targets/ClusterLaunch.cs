using System.Globalization;
using Marie.Events.LoadTest.Infra;

namespace Marie.Events.LoadTest.Targets;

/// <summary>
/// WC's servers: one <c>redis-server</c> of the harness's own (free loopback port, temporary folder, no snapshots, no
/// AOF) and our gateways, each in its own process with a generated configuration, on the memory backend or on that
/// Redis under a key prefix (gateways sharing a prefix form one cluster).
/// </summary>
internal static class ClusterLaunch
{
    /// <summary>How long a server may take to listen (a cold .NET start on a busy 2-core machine).</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The redis-server binary on PATH (or Debian's /usr/bin, /usr/sbin), or null with the reason.</summary>
    public static string? FindRedisServer(out string reason)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/sbin"]))
        {
            var path = Path.Combine(dir, "redis-server");
            if (File.Exists(path))
            {
                reason = "";
                return path;
            }
        }

        reason = "redis-server not found (install Debian's package: apt-get install -y redis-server)";
        return null;
    }

    /// <summary>Starts redis-server on a free loopback port with its folder under the run's work folder; returns the
    /// process and its StackExchange.Redis connection string.</summary>
    public static async Task<(ServerProcess Server, string Connection)> StartRedisAsync(
        string workDir,
        string redisServer)
    {
        var port = FreePort.Next();
        var dir = Directory.CreateDirectory(Path.Combine(workDir, "redis")).FullName;
        var server = ServerProcess.Start("redis-server", redisServer,
            [
                "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", dir,
            ],
            Path.Combine(workDir, "redis-server.log"));
        // No snapshot and no AOF to load: redis answers as soon as it listens.
        await server.WaitForPortAsync(port, StartTimeout);
        return (server, $"127.0.0.1:{port}");
    }

    /// <summary>One of our gateways named <paramref name="name"/>: the memory backend when
    /// <paramref name="redisConnection"/> is null, else the Redis backend with <paramref name="keyPrefix"/>.</summary>
    public static Task<GrpcTarget> StartGatewayAsync(
        ServerSettings settings,
        string name,
        string? redisConnection,
        string? keyPrefix)
    {
        // Inserted under "broker:" (six spaces in): the lines after the first carry their own indentation.
        var backend = redisConnection is null
            ? "backend: memory"
            : $"backend: redis\n      redis:\n        connection: \"{redisConnection}\"\n        key_prefix: "
                + $"\"{keyPrefix}\"\n        node_name: {name}";
        return Launchers.StartOursAsync(settings, SubscriberDrivers.Stubs, name, brokerBackend: backend);
    }
}
