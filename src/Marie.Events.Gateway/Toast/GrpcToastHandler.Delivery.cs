using Marie.Events.Broker;
using Marie.Events.Broker.Limits;

namespace Marie.Events.Gateway.Toast;

/// <summary>Filing one batch: its attempts, retries with backoff, and every way it is settled.</summary>
internal sealed partial class GrpcToastHandler
{
    /// <summary>Files one batch of a topic's events (its first attempt already started), retrying failed attempts
    /// with backoff; settles every completion in every case. A retry sends the same event list, so a backend that
    /// keys retries on it (Redis) does not file them twice. Returns false when a retry was made (or the batch was
    /// abandoned): the lane then lets the batches in flight settle before it starts new ones.</summary>
    private async Task<bool> DeliverAsync(string topic, InFlightBatch started)
    {
        var batch = started.Batch;
        var events = started.Events;
        var first = events[0];
        var abort = _abort.Token;
        for (var attempt = 1; ; attempt++)
        {
            if (attempt > 1 && abort.IsCancellationRequested)
            {
                Abandon(batch);
                return false;
            }

            try
            {
                var result = attempt == 1
                    ? await started.FirstAttempt.ConfigureAwait(false)
                    : await _broker.PublishAsync(topic, events, abort).ConfigureAwait(false);
                Interlocked.Add(ref _filed, events.Length);
                if (attempt > 1)
                {
                    ToastLog.PublishRecovered(_logger, HandlerName, first.Id, topic, attempt);
                }

                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Completion.TrySetResult(new PublishResult(events[i].Id, topic, result.FirstSequence + i));
                }

                return attempt == 1;
            }
            catch (BrokerLimitException ex)
            {
                // A refusal a retry cannot change (max_topics): answer the callers now.
                Interlocked.Add(ref _invalid, events.Length);
                ToastLog.PublishInvalid(_logger, HandlerName, first.Id, ex.Message);
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(
                        new ToastRejectedException(ToastRejection.LimitExceeded, ex.Message));
                }

                return attempt == 1;
            }
            catch (OperationCanceledException) when (abort.IsCancellationRequested)
            {
                Abandon(batch);
                return false;
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _failedAttempts);
                if (Settings.MaxAttempts > 0 && attempt >= Settings.MaxAttempts)
                {
                    Interlocked.Add(ref _givenUp, events.Length);
                    foreach (var pending in batch)
                    {
                        ToastLog.PublishGivenUp(_logger, pending.Event.Id, attempt, topic, ex.Message);
                        pending.Completion.TrySetException(new ToastRejectedException(ToastRejection.GaveUp,
                            $"event {pending.Event.Id} not published: dropped after {attempt} failed publish " +
                            $"attempts ({ex.Message})"));
                    }

                    return false;
                }

                var delay = Settings.Backoff(attempt);
                if (attempt == 1)
                {
                    ToastLog.PublishFailed(
                        _logger,
                        HandlerName,
                        first.Id,
                        topic,
                        attempt,
                        (long)delay.TotalMilliseconds,
                        ex.Message);
                }
                else
                {
                    ToastLog.PublishFailedAgain(
                        _logger,
                        HandlerName,
                        first.Id,
                        topic,
                        attempt,
                        (long)delay.TotalMilliseconds,
                        ex.Message);
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
                    Abandon(batch);
                    return false;
                }
            }
        }
    }

    /// <summary>The drain time ran out before the events were filed.</summary>
    private void Abandon(List<PendingEvent> batch)
    {
        foreach (var pending in batch)
        {
            Abandon(pending);
        }
    }

    /// <summary>The drain time ran out before the event was filed.</summary>
    private void Abandon(PendingEvent pending)
    {
        Interlocked.Increment(ref _undelivered);
        pending.Completion.TrySetException(new ToastRejectedException(ToastRejection.Stopping,
            $"the gateway stopped before event {pending.Event.Id} reached the broker"));
    }
}
