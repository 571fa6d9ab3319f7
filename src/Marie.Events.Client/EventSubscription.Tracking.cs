using Marie.Events.Client.Internal;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Client;

/// <summary>The subscription's side of the stream: deliveries, confirms, epochs, acks (called by the client's reader
/// and by consumers; <see cref="_gate"/> guards the trackers).</summary>
public sealed partial class EventSubscription
{
    /// <summary>"*": every topic.</summary>
    private const string AllTopics = "*";

    /// <summary>Events waiting that wake a waiting consumer before the reader has read all the stream has ready: on
    /// a long burst the consumer starts beside the reader (on another core) instead of after it.</summary>
    private const int WakeBatch = 16;

    /// <summary>The reader has asked its session to wake this subscription's consumer (reader only).</summary>
    private bool _wakeDeferred;

    internal Task Confirmed => _confirmed.Task;

    internal Task Unsubscribed => _unsubscribed.Task;

    internal bool IsConfirmedOn(long sessionId) => Volatile.Read(ref _confirmedSession) == sessionId;

    /// <summary>True once the gateway has confirmed the subscription on some stream.</summary>
    internal bool EverConfirmed
    {
        get
        {
            lock (_gate)
            {
                return _everConfirmed;
            }
        }
    }

    /// <summary>Counts an <c>ERROR_DURABLE_CONFLICT</c> answer to a resubscribe; returns the count since the last
    /// confirm.</summary>
    internal int NextConflict() => Interlocked.Increment(ref _conflicts);

    /// <summary>The subscribe request for a (new) stream: the caller's starting point the first time; afterwards,
    /// each known topic resumes after its watermark, with its epoch, and for "*" any topic not seen yet is replayed
    /// from its ring start (it appeared while the client was away). A durable subscription sends no resume point
    /// after the first time: the gateway's durable knows where each topic stands (for a member of a group the
    /// client's own watermark would not even be the group's).</summary>
    internal ClientMessage BuildSubscribe()
    {
        var request = new SubscribeRequest { SubscriptionId = Id, MaxRedeliveryAttempts = _maxRedeliveryAttempts };
        if (_durableName is not null)
        {
            request.DurableName = _durableName;
            request.Group = _group ?? "";
        }

        request.Topics.AddRange(Topics);
        request.Events.AddRange(_events);
        request.RedeliveryBackoffMs.AddRange(_backoffMs);
        lock (_gate)
        {
            request.Filter = _filterProto;
            if (!_everConfirmed)
            {
                foreach (var (topic, sequence) in _initialResume)
                {
                    request.ResumeFrom[topic] = sequence;
                }

                foreach (var (topic, epoch) in _initialEpochs)
                {
                    request.TopicEpochs[topic] = epoch;
                }

                if (_initialReplayCount is { } count)
                {
                    request.ReplayCount = count;
                }

                if (_initialLastSequence is { } last)
                {
                    request.LastSequenceNum = last;
                }

                return new ClientMessage { Subscribe = request };
            }

            foreach (var tracker in _durableName is null ? _trackers.Values : Enumerable.Empty<TopicTracker>())
            {
                if (!tracker.Started)
                {
                    continue;
                }

                request.ResumeFrom[tracker.Topic] = tracker.Watermark;
                if (tracker.Epoch is { } epoch)
                {
                    request.TopicEpochs[tracker.Topic] = epoch;
                }
            }
        }

        if (Topics.Contains(AllTopics))
        {
            // For a durable, this reaches only the topics it has no position on (new while it was away).
            request.LastSequenceNum = 0;
        }

        return new ClientMessage { Subscribe = request };
    }

    /// <summary>The lowest watermark over the subscription's topics (for the client heartbeat,
    /// informational).</summary>
    internal long LowestWatermark()
    {
        lock (_gate)
        {
            return _trackers.Count == 0 ? 0 : _trackers.Values.Min(t => t.Watermark);
        }
    }

    internal void OnConfirm(SubscriptionConfirm confirm, StreamSession session)
    {
        List<string>? reset = null;
        lock (_gate)
        {
            foreach (var (topic, head) in confirm.TopicHeads)
            {
                var tracker = Tracker(topic);
                var epoch = confirm.TopicEpochs.GetValueOrDefault(topic) ?? "";
                if (tracker.ApplyConfirm(epoch, confirm.TopicReplayFrom.GetValueOrDefault(topic), head))
                {
                    (reset ??= []).Add(topic);
                }
            }

            _everConfirmed = true;
            Volatile.Write(ref _conflicts, 0);
            Volatile.Write(ref _confirmedSession, session.Id);
            Volatile.Write(ref _lastConfirmation, confirm);
            Volatile.Write(ref _limits, SettleLimits.From(confirm));
        }

        foreach (var topic in reset ?? [])
        {
            _client.Counters.EpochChanged();
            ClientLog.EpochChanged(_client.Logger, topic, Id, "(recorded)", confirm.TopicEpochs[topic]);
        }

        ClientLog.Confirmed(_client.Logger, Id, session.Address);
        _confirmed.TrySetResult();
    }

    /// <summary><c>ERROR_EPOCH_CHANGED</c> for <paramref name="topic"/>: reset its state unless the confirm already
    /// did. Returns true when it reset.</summary>
    internal bool OnEpochChanged(string topic, string currentEpoch)
    {
        lock (_gate)
        {
            return Tracker(topic).ApplyEpochChanged(currentEpoch);
        }
    }

    internal void OnHeartbeat(ServerHeartbeat heartbeat)
    {
        lock (_gate)
        {
            foreach (var (topic, epoch) in heartbeat.TopicEpochs)
            {
                _trackers.GetValueOrDefault(topic)?.LearnEpoch(epoch);
            }
        }
    }

    /// <summary>The consumer failed on the event (or left it): it is handed over again when redelivered, or given up
    /// (acked and reported) after <see cref="SubscriptionOptions.MaxProcessingAttempts"/> handovers.</summary>
    internal void Abandon(ReceivedEvent received, Exception? failure)
    {
        if (Closed || received.IsSettled)
        {
            // Settled (acked, nacked, terminated) before the consumer failed or left: that settle stands.
            return;
        }

        if (AckMode == AckMode.Manual)
        {
            ClientLog.ProcessingFailed(
                _client.Logger,
                Id,
                received.Topic,
                received.SequenceNum,
                received.DeliveryAttempt,
                failure);
            return;
        }

        ProcessedOutcome outcome;
        lock (_gate)
        {
            outcome = _trackers.GetValueOrDefault(received.Topic)
                ?.OnAbandoned(received.SequenceNum, received.Generation, _maxProcessingAttempts) ?? default;
        }

        if (!outcome.Known)
        {
            // Already processed (acked before the loop was left), or of an older epoch.
            return;
        }

        if (!outcome.GaveUp)
        {
            ClientLog.ProcessingFailed(
                _client.Logger,
                Id,
                received.Topic,
                received.SequenceNum,
                outcome.Attempts,
                failure);
            return;
        }

        ClientLog.ProcessingGivenUp(
            _client.Logger,
            Id,
            received.Topic,
            received.SequenceNum,
            outcome.Attempts,
            failure);
        if (!outcome.Ack.IsNone)
        {
            _client.QueueAck(Id, outcome.Ack);
        }

        var error = new EventProcessingFailedException(
            Id,
            received.Topic,
            received.SequenceNum,
            outcome.Attempts,
            failure);
        RaiseError(error);
        _client.RaiseError(error);
    }

    internal void RaiseError(EventStreamException error) =>
        _client.Invoke(ErrorReceived, this, new EventStreamErrorEventArgs(error));

    internal void OnBackpressure(BackpressureEventArgs signal)
    {
        Volatile.Write(ref _lastBackpressure, signal);
        _client.Invoke(Backpressure, this, signal);
    }

    internal void OnUnsubscribed() => _unsubscribed.TrySetResult();

    /// <summary>The gateway refused the subscribe (never confirmed, or refused on a new stream): the subscription
    /// ends with <paramref name="error"/>.</summary>
    internal void Fail(Exception error)
    {
        Interlocked.CompareExchange(ref _failure, error, null);
        Interlocked.Exchange(ref _closed, 1);
        _confirmed.TrySetException(error);
        _unsubscribed.TrySetResult();
        EndBuffer();
        _completion.TrySetException(error);
    }

    /// <summary>The client was disposed: the subscription ends normally (a pending subscribe fails).</summary>
    internal void CloseByClient()
    {
        Interlocked.Exchange(ref _closed, 1);
        _confirmed.TrySetException(new ObjectDisposedException(nameof(EventStreamClient), "The client was disposed."));
        _unsubscribed.TrySetResult();
        EndBuffer();
        _completion.TrySetResult();
    }

    /// <summary>Ends the buffer: remaining events are not handed over (a failure is thrown from
    /// <see cref="_failure"/>).</summary>
    private void EndBuffer()
    {
        lock (_gate)
        {
            _buffer.End();
        }
    }

    private TopicTracker Tracker(string topic)
    {
        if (!_trackers.TryGetValue(topic, out var tracker))
        {
            tracker = new TopicTracker(topic, _durableName is not null);
            _trackers[topic] = tracker;
        }

        return tracker;
    }

    internal ILogger Logger => _client.Logger;

    /// <summary>The state of a pending event (tests).</summary>
    internal PendingState? StateOf(string topic, long sequence)
    {
        lock (_gate)
        {
            return _trackers.GetValueOrDefault(topic)?.StateOf(sequence);
        }
    }
}
