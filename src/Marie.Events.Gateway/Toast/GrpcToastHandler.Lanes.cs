using Marie.Events.Broker;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Toast;

/// <summary>Per-topic lanes: one worker at a time per topic, filing its events in order, with retries.</summary>
internal sealed partial class GrpcToastHandler
{
    private void Enqueue(PendingEvent pending)
    {
        var topic = pending.Event.ApiKey;
        while (true)
        {
            var lane = _lanes.GetOrAdd(topic, static t => new TopicLane(t));
            bool start;
            lock (lane.Gate)
            {
                if (lane.Retired)
                {
                    // Its worker emptied it and removed it between GetOrAdd and the lock: take a fresh lane.
                    continue;
                }

                lane.Queue.Enqueue(pending);
                lane.Arrival?.TrySetResult();
                lane.Arrival = null;
                start = !lane.Running;
                lane.Running = true;
            }

            if (start)
            {
                _ = Task.Run(() => RunLaneAsync(lane));
            }

            return;
        }
    }

    /// <summary>Files the lane's events in order, as batches of what is waiting (never waiting for more), until it
    /// is empty, then retires it. Up to the backend's <c>MaxAppendsInFlight</c> batches are in flight at once
    /// (pipelined, in order); once a batch needed a retry, no new batch starts until every batch in flight has
    /// settled, so a retry never overtakes the batches after it and the backend sees calls in the topic's
    /// order.</summary>
    private async Task RunLaneAsync(TopicLane lane)
    {
        var depth = Math.Max(1, _broker.Backend.MaxAppendsInFlight);
        var inFlight = new Queue<InFlightBatch>();
        var draining = false;
        while (true)
        {
            while (!draining && inFlight.Count < depth)
            {
                var batch = new List<PendingEvent>();
                lock (lane.Gate)
                {
                    while (batch.Count < MaxBatch && lane.Queue.TryDequeue(out var next))
                    {
                        batch.Add(next);
                    }

                    if (batch.Count == 0 && inFlight.Count == 0)
                    {
                        lane.Running = false;
                        lane.Retired = true;
                        _lanes.TryRemove(new KeyValuePair<string, TopicLane>(lane.Topic, lane));
                        return;
                    }
                }

                if (batch.Count == 0)
                {
                    break;
                }

                var events = new EventData[batch.Count];
                for (var i = 0; i < events.Length; i++)
                {
                    events[i] = batch[i].Event;
                }

                inFlight.Enqueue(new InFlightBatch(batch, events, StartAttempt(lane.Topic, events)));
            }

            if (!draining && inFlight.Count < depth)
            {
                // Room in the pipeline: whichever comes first, the oldest batch's answer or a new event (which
                // starts a batch at once, never waiting for the ones in flight).
                Task arrival;
                lock (lane.Gate)
                {
                    if (lane.Queue.Count > 0)
                    {
                        continue;
                    }

                    lane.Arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    arrival = lane.Arrival.Task;
                }

                var oldest = inFlight.Peek().FirstAttempt;
                if (await Task.WhenAny(oldest, arrival).ConfigureAwait(false) != oldest)
                {
                    continue;
                }
            }

            var head = inFlight.Dequeue();
            try
            {
                if (!await DeliverAsync(lane.Topic, head).ConfigureAwait(false))
                {
                    draining = true;
                }
            }
            catch (Exception ex)
            {
                // DeliverAsync settles every outcome itself; this is a bug guard so a lane never stalls.
                draining = true;
                ToastLog.LaneFailed(_logger, HandlerName, lane.Topic, ex);
                foreach (var pending in head.Batch)
                {
                    pending.Completion.TrySetException(
                        new ToastRejectedException(
                            ToastRejection.GaveUp,
                            $"event {pending.Event.Id} not published: internal error"));
                }
            }
            finally
            {
                foreach (var _ in head.Batch)
                {
                    Release();
                }
            }

            if (inFlight.Count == 0)
            {
                draining = false;
            }
        }
    }

    /// <summary>The first attempt of a batch, started at once (a synchronous throw becomes the task's).</summary>
    private Task<AppendResult> StartAttempt(string topic, EventData[] events)
    {
        try
        {
            return _broker.PublishAsync(topic, events, _abort.Token).AsTask();
        }
        catch (Exception ex)
        {
            return Task.FromException<AppendResult>(ex);
        }
    }

    /// <summary>
    /// Starts stopping: no event is accepted any more (publishers waiting for room are refused), and the queue has
    /// <see cref="GrpcToastSettings.DrainTimeout"/> to reach the broker; what is left then is abandoned. Idempotent.
    /// </summary>
    public void BeginStop()
    {
        if (Interlocked.Exchange(ref _stopRequested, 1) != 0)
        {
            return;
        }

        _stopping.Cancel();
        _abort.CancelAfter(Settings.DrainTimeout);
        if (Volatile.Read(ref _queued) == 0)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Stops (<see cref="BeginStop"/>) and waits until every accepted event was filed, given up or
    /// abandoned. Returns how many were abandoned.</summary>
    public async Task<long> StopAsync()
    {
        BeginStop();
        await _drained.Task.ConfigureAwait(false);
        return Interlocked.Read(ref _undelivered);
    }

    /// <summary>A batch whose first attempt is in flight.</summary>
    private sealed record InFlightBatch(List<PendingEvent> Batch, EventData[] Events, Task<AppendResult> FirstAttempt);

    /// <summary>One topic's queue. <see cref="Running"/>: a worker is filing its events; <see cref="Retired"/>:
    /// its worker found it empty and removed it from the lanes, so it takes no more events.</summary>
    private sealed class TopicLane(string topic)
    {
        public string Topic { get; } = topic;

        public Lock Gate { get; } = new();

        public Queue<PendingEvent> Queue { get; } = new();

        public bool Running { get; set; }

        public bool Retired { get; set; }

        /// <summary>Completed by the next event queued: set while the worker waits with room in the
        /// pipeline.</summary>
        public TaskCompletionSource? Arrival { get; set; }
    }
}
