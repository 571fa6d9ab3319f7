using System.Diagnostics;
using System.Globalization;
using Marie.Events.Client.Tests.Infrastructure;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// A real Redis Cluster of the test's own on loopback: <c>redis-server --cluster-enabled yes</c> nodes (no
/// persistence, a node timeout of one second so a failover takes a few seconds), joined with <c>redis-cli --cluster
/// create ... --cluster-replicas 1 --cluster-yes</c>. A node killed and started again rejoins from its
/// <c>nodes.conf</c> (as a replica once its replica was promoted).
/// </summary>
public sealed class RedisClusterNodes : IAsyncDisposable
{
    /// <summary>cluster-node-timeout: a primary unreachable this long is failed over (milliseconds).</summary>
    private const int NodeTimeoutMs = 1000;

    private RedisClusterNodes(List<RedisProcess> nodes) => Nodes = nodes;

    public IReadOnlyList<RedisProcess> Nodes { get; }

    /// <summary>The StackExchange.Redis configuration string: every node (the client discovers the rest).</summary>
    public string Connection => string.Join(",", Nodes.Select(n => n.Endpoint));

    /// <summary>Starts <paramref name="primaries"/> primaries with one replica each and waits for cluster_state
    /// ok on every node.</summary>
    public static async Task<RedisClusterNodes> StartAsync(int primaries = 3)
    {
        var root = Path.Combine(Path.GetTempPath(), "marie-events-tests", "rcluster-" + Guid.NewGuid().ToString("N"));
        var nodes = new List<RedisProcess>();
        for (var i = 0; i < 2 * primaries; i++)
        {
            var port = RedisProcess.FreeClusterPort();
            var dir = Path.Combine(root, port.ToString(CultureInfo.InvariantCulture));
            nodes.Add(new RedisProcess("redis-server", port, dir,
            [
                "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", NodeTimeoutMs.ToString(CultureInfo.InvariantCulture),
                "--save", "", "--appendonly", "no", "--dir", dir,
            ]));
        }

        var cluster = new RedisClusterNodes(nodes);
        try
        {
            await Task.WhenAll(nodes.Select(n => n.StartAsync()));
            var create = new ProcessStartInfo("redis-cli")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            create.ArgumentList.Add("--cluster");
            create.ArgumentList.Add("create");
            foreach (var node in nodes)
            {
                create.ArgumentList.Add(node.Endpoint);
            }

            create.ArgumentList.Add("--cluster-replicas");
            create.ArgumentList.Add("1");
            create.ArgumentList.Add("--cluster-yes");
            using var cli = Process.Start(create)!;
            var output = cli.StandardOutput.ReadToEndAsync();
            var error = cli.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(Wait.Timeout);
            await cli.WaitForExitAsync(timeout.Token);
            if (cli.ExitCode != 0)
            {
                throw new InvalidOperationException($"redis-cli --cluster create failed: {await output}{await error}");
            }

            await cluster.WaitHealthyAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until every running node reports cluster_state:ok and every slot is served.</summary>
    public Task WaitHealthyAsync(TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () =>
        {
            foreach (var node in Nodes.Where(n => n.Running))
            {
                var info = await node.TryCommandAsync("CLUSTER", "INFO");
                if (info is null || !info.Contains("cluster_state:ok", StringComparison.Ordinal)
                    || !info.Contains("cluster_slots_ok:16384", StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }, "every Redis Cluster node reporting cluster_state:ok", timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>The node that is primary for <paramref name="key"/>'s slot now.</summary>
    public async Task<RedisProcess> PrimaryForAsync(string key) =>
        await TryPrimaryForAsync(key) ?? throw new InvalidOperationException($"no primary serves {key}'s slot");

    /// <summary>The node that is primary for <paramref name="key"/>'s slot now; null while none is (a
    /// failover).</summary>
    public async Task<RedisProcess?> TryPrimaryForAsync(string key)
    {
        var any = Nodes.First(n => n.Running);
        var slotReply = await any.TryCommandAsync("CLUSTER", "KEYSLOT", key)
            ?? throw new InvalidOperationException("no node answered CLUSTER KEYSLOT");
        var slot = int.Parse(slotReply.TrimStart(':').Trim(), CultureInfo.InvariantCulture);
        var nodes = await any.TryCommandAsync("CLUSTER", "NODES") ?? "";
        foreach (var line in nodes.Split('\n'))
        {
            var fields = line.Trim().Split(' ');
            if (fields.Length < 9 || !fields[2].Contains("master", StringComparison.Ordinal)
                || fields[2].Contains("fail", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var range in fields.Skip(8))
            {
                var bounds = range.Split('-');
                if (!int.TryParse(bounds[0], CultureInfo.InvariantCulture, out var low))
                {
                    continue;
                }

                var high = bounds.Length > 1 ? int.Parse(bounds[1], CultureInfo.InvariantCulture) : low;
                if (slot >= low && slot <= high)
                {
                    var port = int.Parse(fields[1].Split('@')[0].Split(':')[1], CultureInfo.InvariantCulture);
                    return Nodes.Single(n => n.Port == port);
                }
            }
        }

        return null;
    }

    /// <summary>How many primaries serve slots.</summary>
    public async Task<int> PrimaryCountAsync()
    {
        var nodes = await Nodes.First(n => n.Running).TryCommandAsync("CLUSTER", "NODES") ?? "";
        return nodes.Split('\n').Count(l => l.Contains("master", StringComparison.Ordinal)
            && !l.Contains("fail", StringComparison.Ordinal) && l.Trim().Split(' ').Length > 8);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}
