using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Gateway.Auth;

namespace Marie.Events.Gateway.Streams;

/// <summary>
/// One open stream in the <see cref="StreamRegistry"/>: its key as it is now, its broker connection (event streams),
/// and how to end it. When its key is revoked the registry calls <see cref="Revoke"/>: the broker connection is
/// closed at once (nothing more is delivered or redelivered), the call's loops are cancelled, and the call ends with
/// the status given (<see cref="ThrowIfRevoked"/>).
/// </summary>
internal sealed class RegisteredStream : IDisposable
{
    private readonly Lock _gate = new();
    private readonly StreamRegistry _registry;
    private readonly CancellationTokenSource _stop;
    private ApiKeyIdentity _identity;
    private BrokerConnection? _connection;
    private Status? _closedWith;

    internal RegisteredStream(
        StreamRegistry registry,
        string id,
        StreamKind kind,
        ApiKeyIdentity identity,
        CancellationTokenSource stop,
        string peer,
        DateTimeOffset openedAt)
    {
        _registry = registry;
        Id = id;
        Kind = kind;
        Peer = peer;
        OpenedAt = openedAt;
        _identity = identity;
        _stop = stop;
        KeyId = ApiKeyHash.Hex(identity.Hash);
    }

    /// <summary>The stream's id (as logged).</summary>
    public string Id { get; }

    public StreamKind Kind { get; }

    /// <summary>The client's address as gRPC reports it (<c>ipv4:127.0.0.1:50312</c>), or <c>unknown</c>.</summary>
    public string Peer { get; }

    /// <summary>When the stream was opened.</summary>
    public DateTimeOffset OpenedAt { get; }

    /// <summary>The key's hash as hex: what streams are counted by.</summary>
    public string KeyId { get; }

    /// <summary>The stream's key as it is now (its name, roles and topics may change on a reload).</summary>
    public ApiKeyIdentity Identity => Volatile.Read(ref _identity);

    /// <summary>The status the stream was closed with, if its key was revoked.</summary>
    public Status? ClosedWith
    {
        get
        {
            lock (_gate)
            {
                return _closedWith;
            }
        }
    }

    /// <summary>Binds the stream's broker connection, bringing its access up to date (a reload may have happened
    /// since the stream opened); a stream revoked meanwhile closes it at once.</summary>
    public void Attach(BrokerConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        lock (_gate)
        {
            if (_closedWith is null)
            {
                _connection = connection;
                if (!connection.Access.Equals(Identity.Access))
                {
                    connection.UpdateAccess(Identity.Access);
                }

                return;
            }
        }

        connection.Dispose();
    }

    /// <summary>Ends the call with the revocation status, if any (after its loops ended).</summary>
    public void ThrowIfRevoked()
    {
        if (ClosedWith is { } status)
        {
            throw new RpcException(status);
        }
    }

    /// <summary>The key changed but still allows this stream: new topics apply now. True when they changed.</summary>
    internal bool Update(ApiKeyIdentity identity)
    {
        lock (_gate)
        {
            var changed = !identity.Access.Equals(Identity.Access);
            Volatile.Write(ref _identity, identity);
            if (changed && _closedWith is null)
            {
                _connection?.UpdateAccess(identity.Access);
            }

            return changed;
        }
    }

    /// <summary>Closes the stream with <paramref name="status"/>. False when it was already closed.</summary>
    internal bool Revoke(Status status)
    {
        BrokerConnection? connection;
        lock (_gate)
        {
            if (_closedWith is not null)
            {
                return false;
            }

            _closedWith = status;
            connection = _connection;
        }

        // The connection first: from here nothing of it is written, even before the loops see the cancellation.
        connection?.Dispose();
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The call already ended.
        }

        return true;
    }

    /// <summary>Leaves the registry (the stream ended).</summary>
    public void Dispose() => _registry.Remove(this);
}
