using Grpc.Core;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Streams;

/// <summary>
/// The open streams (<c>StreamEvents</c> and <c>PublishStream</c>) by key: enforces
/// <c>gateway.limits.max_streams_per_key</c>, and when the key table changes (a reload, a run-time disable) checks
/// every open stream against its key as it is now: a removed or disabled key's streams end with
/// <c>UNAUTHENTICATED</c>, a key that lost the stream's role with <c>PERMISSION_DENIED</c>, and a key whose topics
/// changed keeps its streams with the new topics (subscriptions it may no longer hold are closed by the broker).
/// </summary>
internal sealed class StreamRegistry
{
    private readonly Lock _gate = new();
    private readonly Lock _review = new();
    private readonly Dictionary<string, HashSet<RegisteredStream>> _byKey = new(StringComparer.Ordinal);
    private readonly APIKeyManager _keys;
    private readonly int _maxPerKey;
    private readonly ILogger<StreamRegistry> _logger;
    private readonly TimeProvider _time;

    public StreamRegistry(
        APIKeyManager keys,
        IOptions<LimitsOptions> limits,
        ILogger<StreamRegistry> logger,
        TimeProvider time)
    {
        _keys = keys;
        _time = time;
        _maxPerKey = limits.Value.MaxStreamsPerKey;
        _logger = logger;
        keys.Changed += Review;
    }

    /// <summary>Registers a new stream of <paramref name="identity"/>'s key, checked against the key table as it is
    /// now (a reload may have happened since the call was authenticated).</summary>
    /// <param name="identity">The caller's key as authenticated.</param>
    /// <param name="kind">What the stream needs of the key.</param>
    /// <param name="id">The stream's id (as logged).</param>
    /// <param name="stop">Cancelled when the stream is revoked.</param>
    /// <param name="peer">The client's address (<c>ServerCallContext.Peer</c>), shown by the admin API.</param>
    /// <exception cref="RpcException">UNAUTHENTICATED or PERMISSION_DENIED (the key changed meanwhile), or
    /// RESOURCE_EXHAUSTED: the key has <c>max_streams_per_key</c> streams open.</exception>
    public RegisteredStream Open(
        ApiKeyIdentity identity,
        StreamKind kind,
        string id,
        CancellationTokenSource stop,
        string? peer = null)
    {
        lock (_gate)
        {
            var current = _keys.Resolve(identity.Hash);
            if (Refusal(current, kind) is { } status)
            {
                throw new RpcException(status);
            }

            var stream = new RegisteredStream(
                this,
                id,
                kind,
                current!,
                stop,
                string.IsNullOrEmpty(peer) ? "unknown" : peer,
                _time.GetUtcNow());
            if (!_byKey.TryGetValue(stream.KeyId, out var open))
            {
                open = [];
                _byKey[stream.KeyId] = open;
            }

            if (open.Count >= _maxPerKey)
            {
                SecurityLog.StreamLimitReached(_logger, current!.Name, _maxPerKey);
                throw new RpcException(new Status(
                    StatusCode.ResourceExhausted,
                    GatewayOptionsValidator.Invariant($"limit max_streams_per_key ({_maxPerKey}) exceeded: ") +
                    "this key has as many open streams as it may; close one first"));
            }

            open.Add(stream);
            return stream;
        }
    }

    /// <summary>Open streams of the key named <paramref name="name"/> (revoked ones not counted, even while their
    /// calls finish).</summary>
    public int CountFor(string name)
    {
        lock (_gate)
        {
            return _byKey.Values.Sum(set => set.Count(s => s.Identity.Name == name && s.ClosedWith is null));
        }
    }

    /// <summary>Every open stream (revoked ones whose calls are still finishing excluded), oldest first.</summary>
    public IReadOnlyList<OpenStreamSnapshot> Snapshot()
    {
        RegisteredStream[] streams;
        lock (_gate)
        {
            streams = [.. _byKey.Values.SelectMany(s => s)];
        }

        return
        [
            .. streams
                .Where(s => s.ClosedWith is null)
                .Select(s => new OpenStreamSnapshot(s.Id, s.Kind, s.Identity.Name, s.Peer, s.OpenedAt))
                .OrderBy(s => s.OpenedAt)
                .ThenBy(s => s.Id, StringComparer.Ordinal),
        ];
    }

    /// <summary>Every open stream, of every key (for the <c>marie.events.streams</c> gauge).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _byKey.Values.Sum(set => set.Count);
            }
        }
    }

    internal void Remove(RegisteredStream stream)
    {
        lock (_gate)
        {
            if (_byKey.TryGetValue(stream.KeyId, out var open) && open.Remove(stream) && open.Count == 0)
            {
                _byKey.Remove(stream.KeyId);
            }
        }
    }

    /// <summary>Checks every open stream against the key table now. Reviews run one at a time, so a later change
    /// is never overtaken by an earlier one.</summary>
    public void Review()
    {
        lock (_review)
        {
            RegisteredStream[] streams;
            lock (_gate)
            {
                streams = [.. _byKey.Values.SelectMany(s => s)];
            }

            foreach (var stream in streams)
            {
                var current = _keys.Resolve(stream.Identity.Hash);
                if (Refusal(current, stream.Kind) is { } status)
                {
                    if (stream.Revoke(status))
                    {
                        SecurityLog.StreamRevoked(
                            _logger,
                            stream.Id,
                            stream.Identity.Name,
                            status.StatusCode.ToString(),
                            status.Detail);
                    }
                }
                else if (stream.Update(current!))
                {
                    var topics = current!.Access.ToString();
                    SecurityLog.StreamAccessChanged(_logger, stream.Id, current.Name, topics);
                }
            }
        }
    }

    private static Status? Refusal(ApiKeyIdentity? key, StreamKind kind)
    {
        if (key is not { Enabled: true })
        {
            return new Status(StatusCode.Unauthenticated, "the API key was revoked or disabled");
        }

        var allowed = kind == StreamKind.Events ? key.CanSubscribe : key.CanPublish;
        return allowed ? null : new Status(
            StatusCode.PermissionDenied,
            "the API key no longer has the role this stream needs");
    }
}
