using System.Threading.Tasks.Sources;

namespace Marie.Events.Client.Internal;

/// <summary>
/// One subscription's events waiting for its consumer, between the stream's reader and the consumer (the
/// <c>await foreach</c> loop or the handler), up to the subscription's <c>BufferCapacity</c>. Not thread-safe: the
/// subscription's lock guards every call, the same lock section that decides about a delivery (so a delivery costs one
/// lock section, not one for the tracker and one for a channel). The consumer's wait is reusable (no allocation per
/// wait); its wake-up runs on the thread pool, never inline on the reader or under the lock. The reader waits for
/// space only when the buffer is full (rare), on a task made for that wait.
/// </summary>
internal sealed class HandOverBuffer(int capacity)
{
    private readonly Queue<ReceivedEvent> _items = new();
    private readonly ConsumerSignal _consumer = new();
    private TaskCompletionSource? _space;

    /// <summary>Events waiting.</summary>
    public int Count => _items.Count;

    /// <summary>True when the reader must wait for the consumer before adding.</summary>
    public bool IsFull => _items.Count >= capacity;

    /// <summary>True once ended: nothing more is added or handed over.</summary>
    public bool Ended { get; private set; }

    /// <summary>True while the consumer waits for an event.</summary>
    public bool ConsumerWaiting => _consumer.Waiting;

    public void Add(ReceivedEvent item) => _items.Enqueue(item);

    /// <summary>Takes the oldest event; frees a reader waiting for space.</summary>
    public bool TryTake(out ReceivedEvent item)
    {
        if (!_items.TryDequeue(out item!))
        {
            return false;
        }

        if (_space is { } space && _items.Count < capacity)
        {
            _space = null;
            space.TrySetResult();
        }

        return true;
    }

    /// <summary>Wakes the consumer when it waits and an event is there (or the buffer ended).</summary>
    public void WakeConsumer()
    {
        if (_consumer.Waiting && (_items.Count > 0 || Ended))
        {
            _consumer.Signal(true);
        }
    }

    /// <summary>The consumer's wait for the next event (the buffer is empty): completes with true when woken, false
    /// when cancelled through <see cref="CancelConsumerWait"/>.</summary>
    public ValueTask<bool> WaitForEvent() => _consumer.Wait();

    /// <summary>Ends a consumer's wait as cancelled.</summary>
    public void CancelConsumerWait()
    {
        if (_consumer.Waiting)
        {
            _consumer.Signal(false);
        }
    }

    /// <summary>The reader's wait for space (the buffer is full); completes when the consumer took one, or when the
    /// buffer ended.</summary>
    public Task WaitForSpace()
    {
        _space ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _space.Task;
    }

    /// <summary>Ends the buffer: the waiting events are not handed over; both sides are woken.</summary>
    public void End()
    {
        Ended = true;
        _items.Clear();
        WakeConsumer();
        _space?.TrySetResult();
        _space = null;
    }

    /// <summary>The consumer's reusable wait. Its continuation runs asynchronously (on the thread pool): the reader
    /// and the code holding the lock never run the consumer's code.</summary>
    private sealed class ConsumerSignal : IValueTaskSource<bool>
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };

        public bool Waiting { get; private set; }

        public ValueTask<bool> Wait()
        {
            _core.Reset();
            Waiting = true;
            return new ValueTask<bool>(this, _core.Version);
        }

        public void Signal(bool woken)
        {
            Waiting = false;
            _core.SetResult(woken);
        }

        public bool GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(
            Action<object?> continuation,
            object? state,
            short token,
            ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
