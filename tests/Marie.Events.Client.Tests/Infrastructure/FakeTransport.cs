using System.Threading.Channels;
using Grpc.Core;
using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Client.Tests.Infrastructure;

/// <summary>An in-memory <see cref="IStreamTransport"/>: each opened stream is a <see cref="FakeConnection"/> the test
/// plays the gateway on.</summary>
internal sealed class FakeTransport : IStreamTransport
{
    private readonly Channel<FakeConnection> _opened = Channel.CreateUnbounded<FakeConnection>();

    public IStreamConnection Open(Uri address, CancellationToken cancellationToken)
    {
        var connection = new FakeConnection(address);
        _opened.Writer.TryWrite(connection);
        return connection;
    }

    /// <summary>The next stream the client opens.</summary>
    public async Task<FakeConnection> NextAsync() =>
        await _opened.Reader.ReadAsync().AsTask().WaitAsync(Wait.Timeout);

    /// <summary>True when the client opened a stream the test has not taken yet.</summary>
    public bool TryNext(out FakeConnection? connection) => _opened.Reader.TryRead(out connection);
}

/// <summary>One fake stream: what the client wrote, and what the "gateway" sends it.</summary>
internal sealed class FakeConnection(Uri address) : IStreamConnection
{
    private readonly Channel<ClientMessage> _sent = Channel.CreateUnbounded<ClientMessage>();
    private readonly Channel<object> _incoming = Channel.CreateUnbounded<object>();
    private ServerMessage? _current;

    public Uri Address { get; } = address;

    public bool Disposed { get; private set; }

    public ServerMessage Current => _current ?? throw new InvalidOperationException("nothing read yet");

    public Task WriteAsync(ClientMessage message, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _sent.Writer.TryWrite(message.Clone());
        return Task.CompletedTask;
    }

    public async Task<bool> MoveNextAsync(CancellationToken cancellationToken)
    {
        try
        {
            var item = await _incoming.Reader.ReadAsync(cancellationToken);
            if (item is Exception error)
            {
                throw error;
            }

            _current = (ServerMessage)item;
            return true;
        }
        catch (ChannelClosedException)
        {
            return false;
        }
        catch (OperationCanceledException)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "cancelled by the client"));
        }
    }

    public void Dispose()
    {
        Disposed = true;
        _incoming.Writer.TryComplete();
    }

    /// <summary>The gateway sends a message.</summary>
    public void Reply(ServerMessage message) => _incoming.Writer.TryWrite(message);

    /// <summary>The call ends with a status.</summary>
    public void Fail(StatusCode code, string detail = "test") =>
        _incoming.Writer.TryWrite(new RpcException(new Status(code, detail)));

    /// <summary>The next message the client wrote that matches (others before it are skipped).</summary>
    public async Task<ClientMessage> NextSentAsync(Func<ClientMessage, bool>? match = null)
    {
        using var cts = new CancellationTokenSource(Wait.Timeout);
        while (true)
        {
            var message = await _sent.Reader.ReadAsync(cts.Token);
            if (match is null || match(message))
            {
                return message;
            }
        }
    }

    /// <summary>The next message of a kind.</summary>
    public Task<ClientMessage> NextSentAsync(ClientMessage.MessageOneofCase kind) =>
        NextSentAsync(m => m.MessageCase == kind);

    /// <summary>Everything written and not read yet.</summary>
    public List<ClientMessage> DrainSent()
    {
        var list = new List<ClientMessage>();
        while (_sent.Reader.TryRead(out var message))
        {
            list.Add(message);
        }

        return list;
    }
}
