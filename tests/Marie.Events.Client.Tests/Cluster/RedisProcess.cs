using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Marie.Events.Client.Tests.Infrastructure;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>One <c>redis-server</c> (or <c>redis-sentinel</c>) process of a test's own, on a loopback port with a
/// folder of its own: killed (SIGKILL) and started again with the same arguments, killed on dispose.</summary>
public sealed class RedisProcess : IAsyncDisposable
{
    private readonly string _program;
    private readonly IReadOnlyList<string> _args;
    private Process? _process;

    public RedisProcess(string program, int port, string dir, IReadOnlyList<string> args)
    {
        _program = program;
        Port = port;
        Dir = dir;
        _args = args;
        Directory.CreateDirectory(dir);
    }

    public int Port { get; }

    public string Dir { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public bool Running => _process is { HasExited: false };

    /// <summary>A free loopback port whose cluster bus port (port + 10000) is free too.</summary>
    public static int FreeClusterPort()
    {
        while (true)
        {
            var port = RedisServer.FreePort();
            // Ports are at most 65535: the bus port must fit.
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

    /// <summary>Starts the process (with <paramref name="extra"/> arguments after its own) and waits until it
    /// answers PING.</summary>
    public async Task StartAsync(params string[] extra)
    {
        var info = new ProcessStartInfo(_program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in _args.Concat(extra))
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException($"{_program} did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var process = _process;
        await Wait.UntilAsync(() => AnswersAsync(Port, process), $"{_program} on port {Port} answering PING");
    }

    /// <summary>
    /// Whether <paramref name="process"/> is the server answering on <paramref name="port"/>: PING gets PONG (not
    /// LOADING), and INFO names its process id. A port that was free when a test picked it can be bound by another
    /// test's server before this one binds it; this one then exits, and the other would answer PING.
    /// </summary>
    /// <exception cref="PortTakenException">The process has exited (its port was taken).</exception>
    public static async Task<bool> AnswersAsync(int port, Process process)
    {
        if (process.HasExited)
        {
            throw new PortTakenException(port, process.ExitCode);
        }

        if ((await TryCommandAsync(port, "PING"))?.StartsWith("+PONG", StringComparison.Ordinal) != true)
        {
            return false;
        }

        var info = await TryCommandAsync(port, "INFO", "server");
        return info?.Contains($"process_id:{process.Id.ToString(CultureInfo.InvariantCulture)}\r\n",
            StringComparison.Ordinal) == true;
    }

    /// <summary>SIGKILL: the process ends at once, with no chance to write anything.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>Sends one command (its words as a RESP array) and returns the whole reply as text; null when the
    /// server cannot be reached.</summary>
    public Task<string?> TryCommandAsync(params string[] words) => TryCommandAsync(Port, words);

    /// <summary>Sends one command to the Redis on <paramref name="port"/>; null when it cannot be reached.</summary>
    public static async Task<string?> TryCommandAsync(int port, params string[] words)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            var stream = client.GetStream();
            var request = new StringBuilder().Append(CultureInfo.InvariantCulture, $"*{words.Length}\r\n");
            foreach (var word in words)
            {
                request.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(word)}\r\n{word}\r\n");
            }

            await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
            var buffer = new byte[64 * 1024];
            var read = await stream.ReadAsync(buffer);
            return Encoding.UTF8.GetString(buffer, 0, read);
        }
        catch (SocketException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }
}

/// <summary>A test's Redis process exited while starting: its port was taken by another process.</summary>
public sealed class PortTakenException(int port, int exitCode)
    : Exception($"redis on port {port} exited at start (code {exitCode}): the port was taken");
