using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks.Sources;

namespace Marie.Events.Broker.Connections;

/// <summary>
/// A connection's write queue: any number of writers (publishers, the reader loop, timers), one reader (the stream's
/// writer loop). A ring of <see cref="Outbound"/> items that starts empty and doubles as needed, and one reusable
/// waiter for the reader. It is not a bounded <c>System.Threading.Channels</c> channel: that keeps five wait objects
/// and a deque per stream (about 700 bytes per idle stream) for features a single reader with no capacity limit
/// never uses. Never full: the broker bounds what it queues (max_in_flight, the control backlog,
/// one heartbeat). The ring keeps its size while the stream is busy (regrowing it after every burst would be garbage on
/// the write path), and lets go of a large one when found empty at a heartbeat (<see cref="TrimIfEmpty"/>): a replay
/// or a backlog does not keep its ring (up to max_in_flight + max_queued_control_messages slots of 48 bytes) for the
/// life of the stream.
/// </summary>
internal sealed class OutboundQueue : IValueTaskSource<bool>
{
    /// <summary>The first ring's slots: an idle stream queues a confirmation and a heartbeat at a time.</summary>
    private const int FirstCapacity = 4;

    /// <summary>A ring up to 64 slots (3 KiB) is kept even when empty: what a steadily writing stream needs.</summary>
    private const int KeptCapacity = 64;

    private readonly Lock _gate = new();
    private Outbound[] _items = [];
    private int _head;
    private int _count;
    private bool _completed;

    /// <summary>
    /// The reader's waiter (continuations run on the thread pool, never inline in a publisher's call).
    /// </summary>
    private ManualResetValueTaskSourceCore<bool> _waiter = new() { RunContinuationsAsynchronously = true };

    /// <summary>
    /// Whether the reader waits on <see cref="_waiter"/> (under <see cref="_gate"/>): who clears it completes it.
    /// </summary>
    private bool _waiting;
    private CancellationTokenRegistration _cancellation;

    /// <summary>Items waiting (a snapshot).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The ring's slots (tests).</summary>
    internal int Capacity
    {
        get
        {
            lock (_gate)
            {
                return _items.Length;
            }
        }
    }

    /// <summary>Drops a ring grown past <see cref="KeptCapacity"/> slots if nothing is queued; the next write starts a
    /// small one.</summary>
    public void TrimIfEmpty()
    {
        lock (_gate)
        {
            if (_count == 0 && _items.Length > KeptCapacity)
            {
                _items = [];
                _head = 0;
            }
        }
    }

    /// <summary>Queues <paramref name="item"/>; false once the queue is completed.</summary>
    public bool TryWrite(in Outbound item)
    {
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            if (_count == _items.Length)
            {
                Grow();
            }

            _items[(_head + _count) & (_items.Length - 1)] = item;
            Volatile.Write(ref _count, _count + 1);
            if (!_waiting)
            {
                return true;
            }

            _waiting = false;
        }

        _waiter.SetResult(true);
        return true;
    }

    /// <summary>Takes the oldest item, if any. Reader only.</summary>
    public bool TryRead([MaybeNullWhen(false)] out Outbound item)
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                item = default;
                return false;
            }

            item = _items[_head];
            // Cleared so the ring does not keep a delivered event or message alive.
            _items[_head] = default;
            _head = (_head + 1) & (_items.Length - 1);
            Volatile.Write(ref _count, _count - 1);
            return true;
        }
    }

    /// <summary>Waits until an item is ready (true) or the queue is completed and empty (false). Reader only, one
    /// wait at a time.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(cancellationToken);
        }

        lock (_gate)
        {
            if (_count > 0)
            {
                return new ValueTask<bool>(true);
            }

            if (_completed)
            {
                return new ValueTask<bool>(false);
            }

            _waiter.Reset();
            _waiting = true;
            if (cancellationToken.CanBeCanceled)
            {
                // Registered under the lock: a token cancelled meanwhile runs the callback here, and Lock is reentrant.
                _cancellation = cancellationToken.UnsafeRegister(
                    static (state, token) => ((OutboundQueue)state!).CancelWait(token), this);
            }

            return new ValueTask<bool>(this, _waiter.Version);
        }
    }

    /// <summary>
    /// Ends the queue: nothing more is accepted, what is queued is dropped, a waiting reader gets false.
    /// </summary>
    public void CompleteAndClear()
    {
        lock (_gate)
        {
            _completed = true;
            Array.Clear(_items);
            _head = 0;
            Volatile.Write(ref _count, 0);
            if (!_waiting)
            {
                return;
            }

            _waiting = false;
        }

        _waiter.SetResult(false);
    }

    private void CancelWait(CancellationToken token)
    {
        lock (_gate)
        {
            if (!_waiting)
            {
                return;
            }

            _waiting = false;
        }

        _waiter.SetException(new OperationCanceledException(token));
    }

    private void Grow()
    {
        var grown = new Outbound[Math.Max(FirstCapacity, _items.Length * 2)];
        for (var i = 0; i < _count; i++)
        {
            grown[i] = _items[(_head + i) & (_items.Length - 1)];
        }

        _items = grown;
        _head = 0;
    }

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        // The wait is over: its registration goes (Dispose waits for a cancel callback running on another thread, so
        // a late callback cannot touch the next wait).
        _cancellation.Dispose();
        _cancellation = default;
        return _waiter.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _waiter.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _waiter.OnCompleted(continuation, state, token, flags);
}
