using System.Security.Cryptography;
using Marie.Events.Broker.Access;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>
/// One client stream's state in the broker. Feed it the client's messages with <see cref="HandleAsync"/>, and write
/// what <see cref="TryReadFrame"/> returns to the stream from a single writer loop. Dispose it when the stream ends:
/// that releases every subscription and in-flight event it held.
/// </summary>
/// <remarks>
/// Its parts: this file holds its subscriptions, rights and lifetime; <c>BrokerConnection.Requests.cs</c> and
/// <c>BrokerConnection.Acks.cs</c> the client messages it handles; <c>BrokerConnection.Writes.cs</c> its write
/// queue and what the writer reads from it. Its limits (<see cref="ConnectionLimits"/>) and redelivery timer
/// (<see cref="RedeliveryTimer"/>) are objects of their own.
/// </remarks>
public sealed partial class BrokerConnection : IDisposable
{
    /// <summary>Subscriptions up to which a lookup by number scans instead of using a table.</summary>
    private const int ScanLimit = 8;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    /// <summary>Subscriptions by number, built once the connection has more than <see cref="ScanLimit"/>: most
    /// streams hold one or a few, found by a scan of <see cref="_subscriptions"/> at no memory cost.</summary>
    private Dictionary<int, Subscription>? _byNumber;
    private readonly ConnectionLimits _limits;
    private readonly RedeliveryTimer _redelivery;
    private int _disposed;
    private long _lastHeardAt;
    private ConnectionAccess _access;

    internal BrokerConnection(GrpcEventBroker broker, string id, ConnectionAccess access, string owner)
    {
        Broker = broker;
        Id = id;
        Owner = owner;
        _access = access;
        _limits = new ConnectionLimits(this, broker.Time, broker.Settings.Limits);
        _redelivery = new RedeliveryTimer(this);
        Tag = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        _lastHeardAt = broker.Time.GetTimestamp();
        broker.Heartbeats.Add(this);
    }

    /// <summary>The connection's id (as logged).</summary>
    public string Id { get; }

    /// <summary>The API key name it belongs to: its dead letters are that key's.</summary>
    public string Owner { get; }

    /// <summary>Random per connection: ack ids carry it, so an ack id of another stream settles nothing here.</summary>
    internal string Tag { get; }

    internal GrpcEventBroker Broker { get; }

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Timestamp (TimeProvider) of the client's last message (or of the connection's start): a consumer
    /// group tells a silent member by it.</summary>
    internal long LastHeardAt => Volatile.Read(ref _lastHeardAt);

    /// <summary>The topics this connection may see now.</summary>
    public ConnectionAccess Access => Volatile.Read(ref _access);

    /// <summary>Set by the broker under its topology lock.</summary>
    internal void SetAccess(ConnectionAccess access) => Volatile.Write(ref _access, access);

    /// <summary>
    /// Gives the connection new rights (its key's topics changed). A subscription that named a topic it may no
    /// longer see is closed: its in-flight events are released (nothing of it is delivered or redelivered after this
    /// returns, except a frame the writer had already taken) and the client gets an <c>ERROR_PERMISSION_DENIED</c>
    /// message with its <c>subscription_id</c> and <c>details</c> {topic, reason = "access_revoked"}. A <c>"*"</c>
    /// subscription leaves the topics it may no longer see and joins, live, those it now may.
    /// </summary>
    public void UpdateAccess(ConnectionAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (IsDisposed)
        {
            return;
        }

        foreach (var (subscription, topic) in Broker.ChangeAccess(this, access))
        {
            if (!TryTakeOff(subscription))
            {
                continue;
            }

            Broker.RemoveSubscription(subscription);
            Broker.Log.SubscriptionRevoked(subscription.Id, Id, topic);
            var error = new ErrorMessage
            {
                SubscriptionId = subscription.Id,
                Code = ErrorCode.ErrorPermissionDenied,
                Message = $"subscription '{subscription.Id}' was closed: "
                    + $"{TopicAccessDeniedException.DeniedMessage(topic)} any more",
            };
            error.Details["topic"] = topic;
            error.Details["reason"] = "access_revoked";
            EnqueueNotice(new ServerMessage { Error = error });
        }
    }

    /// <summary>The subscriptions open now (for the <c>max_subscriptions_per_stream</c> check).</summary>
    internal int OpenSubscriptions
    {
        get
        {
            lock (_gate)
            {
                return _subscriptions.Count;
            }
        }
    }

    internal Subscription[] SnapshotSubscriptions()
    {
        lock (_gate)
        {
            return [.. _subscriptions.Values];
        }
    }

    /// <summary>Takes <paramref name="subscription"/> off this connection if it is still the one open under its id;
    /// false when it was not (unsubscribed or closed meanwhile).</summary>
    private bool TryTakeOff(Subscription subscription)
    {
        lock (_gate)
        {
            if (_subscriptions.TryGetValue(subscription.Id, out var open) && open == subscription)
            {
                _subscriptions.Remove(subscription.Id);
                _byNumber?.Remove(subscription.Number);
                return true;
            }
        }

        return false;
    }

    /// <summary>The subscription open under <paramref name="id"/>, or null.</summary>
    internal Subscription? FindSubscription(string id) => Find(id);

    private Subscription? Find(string id)
    {
        lock (_gate)
        {
            return _subscriptions.GetValueOrDefault(id);
        }
    }

    private Subscription? Find(int number)
    {
        lock (_gate)
        {
            if (_byNumber is not null)
            {
                return _byNumber.GetValueOrDefault(number);
            }

            foreach (var subscription in _subscriptions.Values)
            {
                if (subscription.Number == number)
                {
                    return subscription;
                }
            }

            return null;
        }
    }

    /// <summary>Closes the connection: stops its timers, releases its subscriptions, ends the write queue.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Broker.Heartbeats.Remove(this);
        _redelivery.Stop();
        Subscription[] subscriptions;
        lock (_gate)
        {
            subscriptions = [.. _subscriptions.Values];
            _subscriptions.Clear();
            _byNumber = null;
        }

        foreach (var subscription in subscriptions)
        {
            Broker.RemoveSubscription(subscription);
        }

        CompleteWrites();
        Broker.ConnectionClosed(this);
    }
}
