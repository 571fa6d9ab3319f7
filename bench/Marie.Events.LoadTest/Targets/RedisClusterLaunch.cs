using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Marie.Events.LoadTest.Infra;

namespace Marie.Events.LoadTest.Targets;

/// <summary>
/// WC (d)'s Redis Cluster: <c>redis-server --cluster-enabled yes</c> primaries of the harness's own (free loopback
/// ports whose bus ports, port + 10000, are free too; no snapshots, no AOF, no replicas), joined with
/// <c>redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes</c>.
/// </summary>
internal static class RedisClusterLaunch
{
    /// <summary>How long the cluster may take to report every slot served after the create command.</summary>
    private static readonly TimeSpan HealthyTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Starts <paramref name="shards"/> primaries and joins them; returns the processes and the
    /// StackExchange.Redis connection string (every node).</summary>
    public static async Task<(List<ServerProcess> Nodes, string Connection)> StartAsync(
        string workDir,
        string redisServer,
        int shards)
    {
        var redisCli = Path.Combine(Path.GetDirectoryName(redisServer)!, "redis-cli");
        if (!File.Exists(redisCli))
        {
            throw new InvalidOperationException(
                "redis-cli not found beside redis-server (install Debian's package: apt-get install -y redis-tools)");
        }

        var nodes = new List<ServerProcess>();
        var ports = new List<int>();
        try
        {
            for (var i = 0; i < shards; i++)
            {
                var port = FreeClusterPort();
                var dir = Directory.CreateDirectory(Path.Combine(workDir, $"redis-cluster-{i}")).FullName;
                var node = ServerProcess.Start($"redis-shard-{i}", redisServer,
                    [
                        "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--save", "",
                        "--appendonly", "no", "--dir", dir,
                    ],
                    Path.Combine(workDir, $"redis-shard-{i}.log"));
                nodes.Add(node);
                ports.Add(port);
                await node.WaitForPortAsync(port, HealthyTimeout);
            }

            var endpoints = ports.Select(p => $"127.0.0.1:{p}").ToList();
            var (code, output) = await RunCliAsync(
                redisCli,
                ["--cluster", "create", .. endpoints, "--cluster-replicas", "0", "--cluster-yes"]);
            if (code != 0)
            {
                throw new InvalidOperationException($"redis-cli --cluster create failed: {output}");
            }

            var deadline = Stopwatch.GetTimestamp() + (long)(HealthyTimeout.TotalSeconds * Stopwatch.Frequency);
            foreach (var port in ports)
            {
                while (true)
                {
                    var (_, info) = await RunCliAsync(
                        redisCli,
                        ["-p", port.ToString(CultureInfo.InvariantCulture), "cluster", "info"]);
                    if (info.Contains("cluster_state:ok", StringComparison.Ordinal))
                    {
                        break;
                    }

                    if (Stopwatch.GetTimestamp() > deadline)
                    {
                        throw new InvalidOperationException($"the Redis Cluster did not become healthy: {info}");
                    }

                    // Polling interval of the cluster's state, not a wait for it.
                    await Task.Delay(100);
                }
            }

            return (nodes, string.Join(",", endpoints));
        }
        catch
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            throw;
        }
    }

    private static async Task<(int Code, string Output)> RunCliAsync(string redisCli, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(redisCli)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("redis-cli did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(HealthyTimeout);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    /// <summary>A free loopback port whose cluster bus port (port + 10000, at most 65535) is free too.</summary>
    private static int FreeClusterPort()
    {
        while (true)
        {
            var port = FreePort.Next();
            if (port + 10_000 > 65_535)
            {
                continue;
            }

            try
            {
                using var bus = new TcpListener(IPAddress.Loopback, port + 10_000);
                bus.Start();
                return port;
            }
            catch (SocketException)
            {
                // The bus port is taken: another port.
            }
        }
    }
}
