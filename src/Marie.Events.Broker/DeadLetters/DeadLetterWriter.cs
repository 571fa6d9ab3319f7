using System.Threading.Channels;
using Marie.Events.Broker.Storage;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Broker.DeadLetters;

/// <summary>
/// Write-behind of the dead-letter store: <see cref="MemoryDeadLetterStore"/> hands it every change under its lock
/// (no I/O there: the broker files and replays dead letters holding a subscription's lock), and one loop applies
/// them to the <see cref="IDeadLetterPersistence"/>, one at a time, in the order they were made. Bounded by the
/// letters themselves: one change waits per dead letter at most, a newer change of the same letter replacing the
/// waiting one (and moving last, so the order of what is written stays the order of the changes). A change that fails
/// is logged and counted, never thrown to the broker, and written again after <see cref="RetryDelay"/>. With a shared
/// store (<see cref="SharedDeadLetterView"/>) a letter is filed with the key's retention
/// (<see cref="ISharedDeadLetterPersistence.FileAsync"/>), and what the store removed for it is counted.
/// </summary>
internal sealed class DeadLetterWriter : IDisposable
{
    /// <summary>The wait after a failed write before the next try: a store that is away (Redis restarting, a
    /// locked database) is not hammered, and a second is short next to a dead letter's life.</summary>
    internal static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly IDeadLetterPersistence _persistence;
    private readonly ISharedDeadLetterPersistence? _shared;
    private readonly DeadLetterOptions? _retention;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly LinkedList<DeadLetterChange> _pending = new();
    private readonly Dictionary<(string Key, string Id), LinkedListNode<DeadLetterChange>> _byLetter = [];

    /// <summary>Rung when a change waits; holds one ring at most, so ringing never blocks.</summary>
    private readonly Channel<bool> _doorbell = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource? _drained;
    private Task? _loop;
    private long _written;
    private long _failures;
    private long _evicted;

    /// <summary>A writer to <paramref name="persistence"/>; with <paramref name="sharedRetention"/> (a shared store,
    /// which must implement <see cref="ISharedDeadLetterPersistence"/>) each letter is filed with that retention.
    /// </summary>
    public DeadLetterWriter(IDeadLetterPersistence persistence, ILogger log, TimeProvider time,
        DeadLetterOptions? sharedRetention = null)
    {
        _persistence = persistence;
        _shared = sharedRetention is null ? null : (ISharedDeadLetterPersistence)persistence;
        _retention = sharedRetention;
        _log = log;
        _time = time;
    }

    public IDeadLetterPersistence Persistence => _persistence;

    /// <summary>Changes written since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Writes that failed since start (each tried again).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Dead letters the shared store removed by retention when this writer filed letters.</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    /// <summary>Changes not written yet.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>The letter was filed (or filed again). Called under the store's lock.</summary>
    public void Saved(DeadLetter letter) => Enqueue(new DeadLetterChange(letter.Key, letter.Id, letter));

    /// <summary>The letter (key, id) was removed. Called under the store's lock.</summary>
    public void Deleted(string key, string id) => Enqueue(new DeadLetterChange(key, id, null));

    /// <summary>Starts the loop (after the store was loaded); changes made before wait for it.</summary>
    public void Start()
    {
        lock (_gate)
        {
            _loop ??= Task.Run(() => RunAsync(_stop.Token));
        }
    }

    /// <summary>Returns once every change made before the call is written, or when
    /// <paramref name="cancellationToken"/> is cancelled (the changes then stay waiting).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        Task drained;
        lock (_gate)
        {
            if (_pending.Count == 0)
            {
                return;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            drained = _drained.Task;
        }

        await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stop.Cancel();
        if (_loop is { } loop)
        {
            loop.ContinueWith(_ => _stop.Dispose(), TaskScheduler.Default);
        }
        else
        {
            _stop.Dispose();
        }
    }

    private void Enqueue(DeadLetterChange change)
    {
        lock (_gate)
        {
            if (_byLetter.Remove((change.Key, change.Id), out var waiting))
            {
                _pending.Remove(waiting);
            }

            _byLetter[(change.Key, change.Id)] = _pending.AddLast(change);
        }

        _doorbell.Writer.TryWrite(true);
    }

    private async Task RunAsync(CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                LinkedListNode<DeadLetterChange>? next;
                lock (_gate)
                {
                    next = _pending.First;
                    if (next is null)
                    {
                        _drained?.TrySetResult();
                        _drained = null;
                    }
                }

                if (next is null)
                {
                    await _doorbell.Reader.ReadAsync(stop).ConfigureAwait(false);
                    continue;
                }

                if (await TryWriteAsync(next.Value, stop).ConfigureAwait(false) is { } failure)
                {
                    // The wait starts before the failure is counted: whoever sees the count sees the retry timed.
                    var retry = Task.Delay(RetryDelay, _time, stop);
                    var failures = Interlocked.Increment(ref _failures);
                    _log.DeadLetterWriteFailed(next.Value.Letter is null ? "removal" : "save", next.Value.Id,
                        next.Value.Key, failures, Pending, (long)RetryDelay.TotalMilliseconds, failure.Message);
                    await retry.ConfigureAwait(false);
                    continue;
                }

                lock (_gate)
                {
                    // A newer change of the same letter may have replaced this one meanwhile (then it is gone from
                    // the list already, and the newer one is written in its turn).
                    if (next.List is not null)
                    {
                        _pending.Remove(next);
                        _byLetter.Remove((next.Value.Key, next.Value.Id));
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The broker was disposed: what waits is not written (the gateway flushes before it disposes).
        }
    }

    /// <summary>Writes one change; null when it was written, else what failed.</summary>
    private async Task<Exception?> TryWriteAsync(DeadLetterChange change, CancellationToken stop)
    {
        try
        {
            if (change.Letter is { } letter && _shared is { } shared)
            {
                var notBefore = _time.GetUtcNow() - TimeSpan.FromSeconds(_retention!.MaxAgeSeconds);
                var evicted = await shared.FileAsync(letter, _retention.MaxCount, notBefore, stop)
                    .ConfigureAwait(false);
                Interlocked.Add(ref _evicted, evicted);
            }
            else if (change.Letter is { } saved)
            {
                await _persistence.SaveAsync(saved, stop).ConfigureAwait(false);
            }
            else
            {
                await _persistence.DeleteAsync(change.Key, change.Id, stop).ConfigureAwait(false);
            }

            Interlocked.Increment(ref _written);
            return null;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // Any failure of the store is logged and retried: none may end the loop.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return ex;
        }
    }

    /// <summary>One change: <see cref="Letter"/> stored, or (null) the letter (key, id) removed.</summary>
    private readonly record struct DeadLetterChange(string Key, string Id, DeadLetter? Letter);
}
