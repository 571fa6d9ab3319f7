using System.Net;
using System.Net.Sockets;

namespace Marie.Events.Client.Tests.Infrastructure;

/// <summary>
/// A loopback TCP proxy between a client and the gateway that can break connections: <see cref="CutAll"/> resets
/// every open connection; with <see cref="CutRandomly"/> each connection is reset after a random number of bytes
/// (mid-frame, in either direction); <see cref="Freeze"/> stops forwarding on the open connections without closing
/// them (a silent gateway). New connections always go to <see cref="TargetPort"/>.
/// </summary>
internal sealed class TcpChaosProxy : IAsyncDisposable
{
    /// <summary>Copy buffer per direction.</summary>
    private const int BufferSize = 16 * 1024;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<Pair> _pairs = [];
    private readonly Task _acceptLoop;
    private Random? _random;
    private int _minBytes;
    private int _maxBytes;
    private int _cuts;
    private int _accepted;
    private int _disposed;

    public TcpChaosProxy(int targetPort)
    {
        TargetPort = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>The proxy's port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The gateway port new connections go to.</summary>
    public int TargetPort { get; set; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>Connections reset by the proxy so far.</summary>
    public int Cuts => Volatile.Read(ref _cuts);

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>From now on, each new connection is reset after a random number of bytes (both directions counted)
    /// between <paramref name="minBytes"/> and <paramref name="maxBytes"/>.</summary>
    public void CutRandomly(int seed, int minBytes, int maxBytes)
    {
        lock (_gate)
        {
            _random = new Random(seed);
            _minBytes = minBytes;
            _maxBytes = maxBytes;
        }
    }

    /// <summary>Stops random cuts for new connections.</summary>
    public void StopCutting()
    {
        lock (_gate)
        {
            _random = null;
        }
    }

    /// <summary>Resets every open connection.</summary>
    public void CutAll()
    {
        foreach (var pair in Snapshot())
        {
            Cut(pair);
        }
    }

    /// <summary>Open connections stop forwarding (nothing is closed); new connections are not affected.</summary>
    public void Freeze()
    {
        foreach (var pair in Snapshot())
        {
            pair.Frozen = true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Stop();
        CutAll();
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private Pair[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _pairs];
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _ = RunPairAsync(client);
        }
    }

    private async Task RunPairAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await server.ConnectAsync(new IPEndPoint(IPAddress.Loopback, TargetPort), _stop.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            // The gateway is down: the client sees its connection closed.
            server.Dispose();
            Reset(client);
            return;
        }

        long budget;
        lock (_gate)
        {
            budget = _random is null ? long.MaxValue : _random.Next(_minBytes, _maxBytes);
        }

        var pair = new Pair(client, server, budget);
        lock (_gate)
        {
            _pairs.Add(pair);
        }

        try
        {
            await Task.WhenAll(PumpAsync(pair, client, server), PumpAsync(pair, server, client));
        }
        finally
        {
            lock (_gate)
            {
                _pairs.Remove(pair);
            }

            Cut(pair, counted: false);
        }
    }

    private async Task PumpAsync(Pair pair, Socket from, Socket to)
    {
        var buffer = new byte[BufferSize];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0 || pair.Closed)
                {
                    break;
                }

                if (pair.Frozen)
                {
                    // A silent peer: swallow everything from now on, keep the connection open.
                    continue;
                }

                var left = Interlocked.Add(ref pair.Budget, -read);
                if (left < 0)
                {
                    // Forward part of this chunk, then reset: the cut lands mid-frame.
                    var part = (int)Math.Max(0, read + left);
                    if (part > 0)
                    {
                        await to.SendAsync(buffer.AsMemory(0, part), SocketFlags.None, _stop.Token);
                    }

                    Cut(pair);
                    break;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The other side or the proxy closed the connection.
        }
        finally
        {
            Cut(pair, counted: false);
        }
    }

    private void Cut(Pair pair, bool counted = true)
    {
        lock (pair)
        {
            if (pair.Closed)
            {
                return;
            }

            pair.Closed = true;
        }

        if (counted)
        {
            Interlocked.Increment(ref _cuts);
        }

        Reset(pair.Client);
        Reset(pair.Server);
    }

    /// <summary>Closes with RST (linger 0), as a broken network or a crashed peer would.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    private sealed class Pair(Socket client, Socket server, long budget)
    {
        public long Budget = budget;

        public Socket Client { get; } = client;

        public Socket Server { get; } = server;

        public volatile bool Frozen;

        public volatile bool Closed;
    }
}
