using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Gateway;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// The gateway in its own process (<c>dotnet Marie.Events.Gateway.dll --config FILE</c>, the dll from this test's
/// build output), on free loopback ports: a real process to kill.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _error = new();

    private GatewayProcess(Process process, string dir, int grpcPort)
    {
        _process = process;
        _dir = dir;
        GrpcPort = grpcPort;
    }

    public int GrpcPort { get; }

    /// <summary>The admin HTTP port (<c>/internal/stats</c>).</summary>
    public int AdminPort { get; private init; }

    /// <summary>CPU time the process used so far (user and system).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public Uri Address => new($"http://127.0.0.1:{GrpcPort}");

    /// <summary>What the process printed so far (stdout and stderr).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>What the process printed to stderr so far.</summary>
    public string Error
    {
        get
        {
            lock (_output)
            {
                return _error.ToString();
            }
        }
    }

    /// <summary>Starts a cluster gateway on <paramref name="redis"/> with <paramref name="keys"/> and waits until its
    /// gRPC port accepts connections. Entries of <paramref name="broker"/> named <c>redis:KEY</c> go to
    /// <c>toast.grpc.broker.redis.KEY</c>.</summary>
    public static Task<GatewayProcess> StartAsync(
        RedisServer redis,
        string keyPrefix,
        TestKeys keys,
        string name,
        IReadOnlyDictionary<string, string> broker)
    {
        const string redisKey = "redis:";
        var plain = broker.Where(e => !e.Key.StartsWith(redisKey, StringComparison.Ordinal))
            .ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        var redisLines = string.Concat(broker.Where(e => e.Key.StartsWith(redisKey, StringComparison.Ordinal))
            .Select(e => $"\n        {e.Key[redisKey.Length..]}: {e.Value}"));
        return StartAsync(keys, name, plain,
            $"      backend: redis\n      redis:\n        connection: \"{redis.Connection}\"\n        key_prefix: "
                + $"\"{keyPrefix}\"\n        node_name: {name}{redisLines}");
    }

    /// <summary>Starts a gateway with <paramref name="keys"/>, <c>toast.grpc.broker.*</c> from
    /// <paramref name="broker"/> followed by the YAML lines <paramref name="backendYaml"/> (indented under
    /// <c>broker:</c>), and waits until its gRPC port accepts connections. <paramref name="stateDir"/>: its
    /// <c>gateway.state_dir</c>, kept on dispose (default: a temporary folder of its own, deleted on
    /// dispose).</summary>
    public static async Task<GatewayProcess> StartAsync(
        TestKeys keys,
        string name,
        IReadOnlyDictionary<string, string> broker,
        string backendYaml,
        string? stateDir = null)
    {
        var gateway = await LaunchAsync(keys, broker, backendYaml, stateDir);
        try
        {
            await Wait.UntilAsync(async () =>
            {
                if (gateway._process.HasExited)
                {
                    throw new InvalidOperationException(
                        $"the gateway process exited ({gateway._process.ExitCode}): {gateway.Output}");
                }

                try
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync("127.0.0.1", gateway.GrpcPort);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            }, $"gateway process {name} listening on {gateway.GrpcPort}", TimeSpan.FromSeconds(30));
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }

        return gateway;
    }

    /// <summary>Starts the process as
    /// <see cref="StartAsync(TestKeys, string, IReadOnlyDictionary{string, string}, string, string?)"/> does, without
    /// waiting for anything (for a gateway that is expected not to start).</summary>
    public static async Task<GatewayProcess> LaunchAsync(
        TestKeys keys,
        IReadOnlyDictionary<string, string> broker,
        string backendYaml,
        string? stateDir = null)
    {
        var dir = GatewayFixture.NewTempDir();
        var grpcPort = RedisServer.FreePort();
        var adminPort = RedisServer.FreePort();
        var yaml = new StringBuilder();
        yaml.AppendLine(
            CultureInfo.InvariantCulture,
            $"gateway:\n  host: 127.0.0.1\n  port: {grpcPort}\n  admin_port: {adminPort}\n  "
                + $"state_dir: {stateDir ?? dir}");
        yaml.AppendLine("auth:\n  keys:");
        foreach (var (keyName, key, role) in new[]
        {
            ("test-admin", keys.Admin, "admin"),
            ("test-publisher", keys.Publisher, "publisher"),
            ("test-subscriber", keys.Subscriber, "subscriber"),
        })
        {
            yaml.AppendLine(
                CultureInfo.InvariantCulture,
                $"    - name: {keyName}\n      api_key: {key}\n      roles: [{role}]\n      topics: [\"*\"]");
        }

        yaml.AppendLine("toast:\n  native:\n    enabled: false\n  grpc:\n    broker:");
        foreach (var (key, value) in broker)
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"      {key}: {value}");
        }

        yaml.AppendLine(backendYaml);
        var config = Path.Combine(dir, "gateway.yml");
        await File.WriteAllTextAsync(config, yaml.ToString());

        var dll = typeof(GatewayHost).Assembly.Location;
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add("--config");
        info.ArgumentList.Add(config);
        info.Environment.Remove("MARIE_EVENTS_CONFIG");
        var process = Process.Start(info) ?? throw new InvalidOperationException("the gateway process did not start");
        var gateway = new GatewayProcess(process, dir, grpcPort) { AdminPort = adminPort };
        process.OutputDataReceived += (_, e) => gateway.Append(e.Data, error: false);
        process.ErrorDataReceived += (_, e) => gateway.Append(e.Data, error: true);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return gateway;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the process to end by itself and returns its exit
    /// code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        // The parameterless wait also drains the redirected output into Output/Error.
        await _process.WaitForExitAsync();
        return _process.ExitCode;
    }

    /// <summary>Stops the process the normal way (SIGTERM: the host's graceful shutdown) and returns its exit
    /// code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        return await WaitForExitAsync(timeout);
    }

    /// <summary>Kills the process (SIGKILL: no shutdown, no drain) and waits for it to end.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }

    private void Append(string? line, bool error)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
            if (error)
            {
                _error.AppendLine(line);
            }
        }
    }
}
