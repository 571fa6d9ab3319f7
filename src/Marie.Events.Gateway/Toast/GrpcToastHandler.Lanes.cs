using Marie.Events.Broker.Access;
using Marie.Events.Broker.Limits;
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

    /// <summary>Files the lane's events one after the other until it is empty, then retires it.</summary>
    private async Task RunLaneAsync(TopicLane lane)
    {
        while (true)
        {
            PendingEvent? next;
            lock (lane.Gate)
            {
                if (!lane.Queue.TryDequeue(out next))
                {
                    lane.Running = false;
                    lane.Retired = true;
                    _lanes.TryRemove(new KeyValuePair<string, TopicLane>(lane.Topic, lane));
                    return;
                }
            }

            try
            {
                await DeliverAsync(next).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // DeliverAsync settles every outcome itself; this is a bug guard so a lane never stalls.
                ToastLog.LaneFailed(_logger, HandlerName, lane.Topic, ex);
                next.Completion.TrySetException(new ToastRejectedException(ToastRejection.GaveUp, $"event {next.Event.Id} not published: internal error"));
            }
            finally
            {
                Release();
            }
        }
    }

    /// <summary>Files one event, retrying failed attempts with backoff; settles its completion in every case.</summary>
    private async Task DeliverAsync(PendingEvent pending)
    {
        var evt = pending.Event;
        var abort = _abort.Token;
        for (var attempt = 1; ; attempt++)
        {
            if (abort.IsCancellationRequested)
            {
                Abandon(pending);
                return;
            }

            try
            {
                var result = await _sink.PublishAsync(evt, abort).ConfigureAwait(false);
                Interlocked.Increment(ref _filed);
                if (attempt > 1)
                {
                    ToastLog.PublishRecovered(_logger, HandlerName, evt.Id, evt.ApiKey, attempt);
                }

                pending.Completion.TrySetResult(result);
                return;
            }
            catch (Exception ex) when (ex is ArgumentException or BrokerLimitException or TopicAccessDeniedException)
            {
                // Refusals that a retry cannot change: answer the caller now.
                Interlocked.Increment(ref _invalid);
                ToastLog.PublishInvalid(_logger, HandlerName, evt.Id, ex.Message);
                var reason = ex switch
                {
                    BrokerLimitException => ToastRejection.LimitExceeded,
                    TopicAccessDeniedException => ToastRejection.Denied,
                    _ => ToastRejection.Invalid,
                };
                pending.Completion.TrySetException(new ToastRejectedException(reason, ex.Message));
                return;
            }
            catch (OperationCanceledException) when (abort.IsCancellationRequested)
            {
                Abandon(pending);
                return;
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _failedAttempts);
                if (Settings.MaxAttempts > 0 && attempt >= Settings.MaxAttempts)
                {
                    Interlocked.Increment(ref _givenUp);
                    ToastLog.PublishGivenUp(_logger, evt.Id, attempt, evt.ApiKey, ex.Message);
                    pending.Completion.TrySetException(new ToastRejectedException(ToastRejection.GaveUp,
                        $"event {evt.Id} not published: dropped after {attempt} failed publish attempts ({ex.Message})"));
                    return;
                }

                var delay = Settings.Backoff(attempt);
                if (attempt == 1)
                {
                    ToastLog.PublishFailed(_logger, HandlerName, evt.Id, evt.ApiKey, attempt, (long)delay.TotalMilliseconds, ex.Message);
                }
                else
                {
                    ToastLog.PublishFailedAgain(_logger, HandlerName, evt.Id, evt.ApiKey, attempt, (long)delay.TotalMilliseconds, ex.Message);
                }

                // The timer exists (on the handler's TimeProvider) before the retry is counted as scheduled.
                var wait = Task.Delay(delay, _time, abort);
                Interlocked.Increment(ref _retriesScheduled);
                try
                {
                    await wait.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Abandon(pending);
                    return;
                }
            }
        }
    }

    /// <summary>The drain time ran out before the event was filed.</summary>
    private void Abandon(PendingEvent pending)
    {
        Interlocked.Increment(ref _undelivered);
        pending.Completion.TrySetException(new ToastRejectedException(ToastRejection.Stopping,
            $"the gateway stopped before event {pending.Event.Id} reached the broker"));
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

    /// <summary>One topic's queue. <see cref="Running"/>: a worker is filing its events; <see cref="Retired"/>:
    /// its worker found it empty and removed it from the lanes, so it takes no more events.</summary>
    private sealed class TopicLane(string topic)
    {
        public string Topic { get; } = topic;

        public Lock Gate { get; } = new();

        public Queue<PendingEvent> Queue { get; } = new();

        public bool Running { get; set; }

        public bool Retired { get; set; }
    }
}
