using Marie.Events.Protocol;

namespace Marie.Events.Client.Internal;

/// <summary>A bulk publish across attempts: the source, the requests sent and not answered, the receipts.</summary>
internal sealed class BulkState(IAsyncEnumerator<EventData> source)
{
    private readonly Lock _gate = new();
    private readonly Queue<PublishRequest> _unanswered = new();
    private readonly List<PublishResponse> _receipts = [];
    private Task<bool>? _pendingMove;
    private bool _sourceDone;

    public int Answered
    {
        get
        {
            lock (_gate)
            {
                return _receipts.Count;
            }
        }
    }

    public int UnansweredCount
    {
        get
        {
            lock (_gate)
            {
                return _unanswered.Count;
            }
        }
    }

    public IReadOnlyList<PublishResponse> Receipts
    {
        get
        {
            lock (_gate)
            {
                return [.. _receipts];
            }
        }
    }

    public PublishRequest[] Unanswered()
    {
        lock (_gate)
        {
            return [.. _unanswered];
        }
    }

    /// <summary>The next event as a request (queued as unanswered), or null at the end. A pull interrupted by a
    /// failed attempt is picked up by the next attempt, so no event is skipped.</summary>
    public async Task<PublishRequest?> NextAsync(CancellationToken cancellationToken)
    {
        if (_sourceDone)
        {
            return null;
        }

        _pendingMove ??= source.MoveNextAsync().AsTask();
        var more = await _pendingMove.WaitAsync(cancellationToken).ConfigureAwait(false);
        _pendingMove = null;
        if (!more)
        {
            _sourceDone = true;
            return null;
        }

        var request = new PublishRequest { Event = WithId(source.Current) };
        lock (_gate)
        {
            _unanswered.Enqueue(request);
        }

        return request;
    }

    public void Answer(PublishResponse receipt)
    {
        lock (_gate)
        {
            _unanswered.TryDequeue(out _);
            _receipts.Add(receipt);
        }
    }

    /// <summary>The event, or a copy of it with a new id (32 hex characters) when it has none: a retried publish
    /// keeps its id.</summary>
    public static EventData WithId(EventData evt)
    {
        if (evt.Id.Length > 0)
        {
            return evt;
        }

        var copy = evt.Clone();
        copy.Id = Guid.NewGuid().ToString("N");
        return copy;
    }
}
