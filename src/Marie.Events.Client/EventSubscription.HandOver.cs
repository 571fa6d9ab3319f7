using System.Runtime.CompilerServices;
using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>The hand-over of events from the stream's reader to the consumer (<see cref="HandOverBuffer"/>, guarded
/// by <see cref="_gate"/> with the trackers), and the consumer finishing with them.</summary>
public sealed partial class EventSubscription
{
    /// <summary>A delivery: new ones go to the buffer (waiting when it is full), duplicates are dropped and, when
    /// already processed, acknowledged again on this stream. A consumer waiting for an event is woken once the reader
    /// has read what the stream has ready (<see cref="StreamSession.WakeConsumers"/>), or at once when
    /// <see cref="WakeBatch"/> events wait: one wake-up per burst read, not one per event.</summary>
    internal ValueTask OnEventAsync(EventEnvelope envelope, StreamSession session)
    {
        if (Closed)
        {
            return ValueTask.CompletedTask;
        }

        var topic = envelope.Event?.ApiKey ?? "";
        ReceivedEvent? handOver = null;
        DeliveryDecision decision;
        lock (_gate)
        {
            var tracker = Tracker(topic);
            decision = tracker.OnDelivery(envelope.SequenceNum, envelope.AckId, session.Id, AckMode == AckMode.Manual);
            if (decision.Kind != DeliveryKind.Duplicate)
            {
                handOver = new ReceivedEvent(this, envelope, topic, tracker.Generation, _client.Time.GetTimestamp());
                if (TryAddLocked(handOver, session))
                {
                    return ValueTask.CompletedTask;
                }
            }
        }

        if (handOver is null)
        {
            _client.Counters.Duplicate();
            if (!decision.Ack.IsNone)
            {
                session.QueueAck(Id, decision.Ack);
            }

            return ValueTask.CompletedTask;
        }

        return AddWhenSpaceAsync(handOver, session);
    }

    /// <summary>Wakes the consumer if it waits for the events the reader added (the reader calls this through
    /// <see cref="StreamSession.WakeConsumers"/>).</summary>
    internal void WakeConsumer()
    {
        lock (_gate)
        {
            _wakeDeferred = false;
            _buffer.WakeConsumer();
        }
    }

    /// <summary>Adds to the buffer unless it is full (or ended: then the event is dropped, true).</summary>
    private bool TryAddLocked(ReceivedEvent handOver, StreamSession session)
    {
        if (_buffer.Ended)
        {
            return true;
        }

        if (_buffer.IsFull)
        {
            return false;
        }

        _buffer.Add(handOver);
        if (!_buffer.ConsumerWaiting)
        {
            return true;
        }

        if (_buffer.Count >= WakeBatch)
        {
            _buffer.WakeConsumer();
        }
        else if (!_wakeDeferred)
        {
            _wakeDeferred = true;
            session.DeferWake(this);
        }

        return true;
    }

    /// <summary>The buffer is full: the reader (so every subscription of the stream) waits for the consumer.</summary>
    private async ValueTask AddWhenSpaceAsync(ReceivedEvent handOver, StreamSession session)
    {
        // The consumers this reader has not woken yet must run, or nothing makes space.
        session.WakeConsumers();
        using (session.WaitingOnConsumer())
        {
            while (true)
            {
                Task space;
                lock (_gate)
                {
                    if (TryAddLocked(handOver, session))
                    {
                        break;
                    }

                    _buffer.WakeConsumer();
                    space = _buffer.WaitForSpace();
                }

                await space.WaitAsync(session.Token).ConfigureAwait(false);
            }
        }

        // Added under the lock: a consumer that was waiting is woken with the next burst's wake-up.
        session.WakeConsumers();
    }

    /// <summary>The consumer is done with the event (or acked it): update the state and queue the ack.</summary>
    internal void Complete(ReceivedEvent received)
    {
        if (Closed || !received.TrySettle())
        {
            return;
        }

        AckAction ack;
        lock (_gate)
        {
            ack = ProcessedLocked(received);
        }

        if (!ack.IsNone)
        {
            _client.QueueAck(Id, ack);
        }
    }

    /// <summary>A settled event is processed (under <see cref="_gate"/>): the tracker's state, and the ack to
    /// queue.</summary>
    private AckAction ProcessedLocked(ReceivedEvent received)
    {
        var tracker = _trackers.GetValueOrDefault(received.Topic);
        var outcome = tracker?.OnProcessed(received.SequenceNum, received.Generation) ?? default;
        if (_durableName is not null && outcome.Known)
        {
            // If the ack does not reach the durable (its stream ends first), the durable delivers the event
            // again: that copy is acked instead of processed twice.
            tracker!.RememberProcessed(received.SequenceNum);
        }

        return outcome.Ack;
    }

    /// <summary>The next event for the consumer (null: the subscription ended). <paramref name="done"/>, when not
    /// null, is the event the consumer just finished (settled by <see cref="Settled"/>): it is completed in the same
    /// lock section that takes the next one, and its ack queued.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReceivedEvent?> TakeAsync(ReceivedEvent? done, CancellationToken cancellationToken)
    {
        while (true)
        {
            var ack = AckAction.None;
            ReceivedEvent? next = null;
            ValueTask<bool> wait = default;
            lock (_gate)
            {
                if (done is not null && !Closed)
                {
                    ack = ProcessedLocked(done);
                }

                done = null;
                if (!Closed && _buffer.TryTake(out var taken))
                {
                    _trackers.GetValueOrDefault(taken.Topic)?.OnHandedOut(taken.SequenceNum, taken.Generation);
                    next = taken;
                }
                else if (!Closed && !_buffer.Ended)
                {
                    wait = _buffer.WaitForEvent();
                }
            }

            if (!ack.IsNone)
            {
                _client.QueueAck(Id, ack);
            }

            if (next is not null)
            {
                _client.Counters.Delivered();
                return next;
            }

            if (Closed || _buffer.Ended)
            {
                return Volatile.Read(ref _failure) is { } failure ? throw failure : null;
            }

            await WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for the reader's wake-up, or for <paramref name="cancellationToken"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitAsync(ValueTask<bool> wait, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            await wait.ConfigureAwait(false);
            return;
        }

        var registration = cancellationToken.UnsafeRegister(
            static s =>
            {
                var subscription = (EventSubscription)s!;
                lock (subscription._gate)
                {
                    subscription._buffer.CancelConsumerWait();
                }
            },
            this);
        try
        {
            if (!await wait.ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The event when this call settled it (auto mode, the consumer is done with it), else null.</summary>
    private ReceivedEvent? Settled(ReceivedEvent received) =>
        !Closed && received.TrySettle() ? received : null;
}
