using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Marie.Events.Client.Tests.Infrastructure;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>
/// A real <c>redis-server</c> of the tests' own, on a free loopback port with a temporary folder: no RDB snapshots,
/// AOF on or off (on: <c>appendfsync always</c>). Stopped and restarted like a real one; killed and its folder
/// deleted on dispose.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly bool _appendOnly;
    private Process? _process;

    private RedisServer(bool appendOnly)
    {
        _appendOnly = appendOnly;
        Port = FreePort();
        Dir = Path.Combine(Path.GetTempPath(), "marie-events-tests", "redis-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
    }

    public int Port { get; private set; }

    public string Dir { get; }

    /// <summary>The StackExchange.Redis configuration string of this server.</summary>
    public string Connection => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync(bool appendOnly)
    {
        var server = new RedisServer(appendOnly);
        // A port free when picked can be taken before redis-server binds it: then another one, a few times.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await server.LaunchAsync();
                return server;
            }
            catch (PortTakenException) when (attempt < 3)
            {
                server.Port = FreePort();
            }
        }
    }

    /// <summary>A free TCP port on loopback (bound and released; the tests start their servers on it at
    /// once).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Stops the server cleanly (SHUTDOWN: the AOF is written out) and waits for the process to end.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        try
        {
            await CommandAsync("SHUTDOWN");
        }
        catch (IOException)
        {
            // The server closes the connection as it stops.
        }
        catch (SocketException)
        {
        }

        using var cts = new CancellationTokenSource(Wait.Timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.Dispose();
        _process = null;
    }

    /// <summary>Stops and starts the server again on the same port and folder.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await LaunchAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }

    private async Task LaunchAsync()
    {
        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", _appendOnly ? "yes" : "no", "--appendfsync", "always", "--dir", Dir,
                 })
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var process = _process;
        await Wait.UntilAsync(
            () => RedisProcess.AnswersAsync(Port, process),
            $"redis-server on port {Port} answering PING");
    }

    /// <summary>Sends one inline command and returns the first line of the reply.</summary>
    private async Task<string> CommandAsync(string command)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        var buffer = new byte[256];
        var read = await stream.ReadAsync(buffer);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }
}
