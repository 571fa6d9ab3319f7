using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>Subscribing, filter updates, unsubscribing.</summary>
public sealed partial class EventStreamClient
{
    /// <summary>Subscriptions being unsubscribed, until the gateway confirms (guarded by
    /// <see cref="_gate"/>).</summary>
    private readonly Dictionary<string, EventSubscription> _closing = new(StringComparer.Ordinal);

    /// <summary>
    /// Subscribes, opening the stream if it is not open yet, and waits for the gateway's confirmation (through
    /// reconnects, up to <see cref="EventStreamClientOptions.SubscribeTimeout"/>). Read the events from the returned
    /// subscription with <c>await foreach</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid, or the id is already open on this
    /// client.</exception>
    /// <exception cref="EventStreamException">The gateway refused the subscription, the client has failed (e.g.
    /// <see cref="EventStreamAuthenticationException"/>), or no confirmation came in time.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<EventSubscription> SubscribeAsync(
        SubscriptionOptions options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ThrowIfUnusable();
        var subscription = new EventSubscription(this, options, options.SubscriptionId ?? Guid.NewGuid().ToString("N"));
        lock (_gate)
        {
            ThrowIfUnusable();
            if (_subscriptions.ContainsKey(subscription.Id) || _closing.ContainsKey(subscription.Id))
            {
                throw new ArgumentException(
                    $"Subscription id '{subscription.Id}' is already open on this client.",
                    nameof(options));
            }

            _subscriptions[subscription.Id] = subscription;
            _session?.Send(subscription.BuildSubscribe());
            EnsureStartedLocked();
        }

        try
        {
            var confirmed = subscription.Confirmed;
            if (_options.SubscribeTimeout != Timeout.InfiniteTimeSpan)
            {
                confirmed = confirmed.WaitAsync(_options.SubscribeTimeout, Time, cancellationToken);
            }

            await confirmed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Remove(subscription);
            var failure = ex switch
            {
                TimeoutException => new EventStreamException(
                    $"Subscription '{subscription.Id}' was not confirmed within {_options.SubscribeTimeout}",
                    ex),
                _ => ex,
            };
            subscription.Fail(failure);
            if (ReferenceEquals(failure, ex))
            {
                throw;
            }

            throw failure;
        }

        return subscription;
    }

    /// <summary>
    /// Subscribes and runs <paramref name="handler"/> for each event, one at a time, until the subscription is
    /// disposed or <paramref name="cancellationToken"/> is cancelled. In <see cref="AckMode.Auto"/> an event is
    /// acknowledged when the handler returns; when it throws, the event is not acknowledged and is handed over again on
    /// redelivery (up to <see cref="SubscriptionOptions.MaxProcessingAttempts"/>). In <see cref="AckMode.Manual"/> the
    /// handler acknowledges with <see cref="ReceivedEvent.AckAsync"/>. <see cref="EventSubscription.Completion"/>
    /// completes when the subscription ends (faulted when the client failed for good). Cancelling
    /// <paramref name="cancellationToken"/> stops the handler loop; dispose the subscription to unsubscribe.
    /// </summary>
    /// <inheritdoc cref="SubscribeAsync(SubscriptionOptions, CancellationToken)"/>
    public async Task<EventSubscription> SubscribeAsync(
        SubscriptionOptions options,
        Func<ReceivedEvent, CancellationToken, ValueTask> handler,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var subscription = await SubscribeAsync(options, cancellationToken).ConfigureAwait(false);
        _ = subscription.RunHandlerAsync(handler, cancellationToken);
        return subscription;
    }

    /// <summary>Sends <paramref name="subscription"/>'s subscribe again on <paramref name="session"/> after a delay
    /// that doubles with each conflict since its last confirm (from <see
    /// cref="EventStreamClientOptions.ReconnectInitialDelay"/> to <see
    /// cref="EventStreamClientOptions.ReconnectMaxDelay"/>), while both are still current.</summary>
    private async Task ResubscribeLaterAsync(StreamSession session, EventSubscription subscription)
    {
        var conflicts = subscription.NextConflict();
        var delay = TimeSpan.FromTicks(Math.Min(
            _options.ReconnectMaxDelay.Ticks,
            _options.ReconnectInitialDelay.Ticks << Math.Min(conflicts - 1, 20)));
        ClientLog.DurableStillHeld(Logger, subscription.Id, (long)delay.TotalMilliseconds, conflicts);
        try
        {
            await Task.Delay(delay, Time, session.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The stream ended: the next one subscribes anew.
            return;
        }

        lock (_gate)
        {
            if (ReferenceEquals(_session, session)
                && _subscriptions.TryGetValue(subscription.Id, out var current)
                && ReferenceEquals(current, subscription))
            {
                session.Send(subscription.BuildSubscribe());
            }
        }
    }

    /// <summary>Sends a filter update on the open stream (the subscription keeps the filter for later
    /// streams).</summary>
    internal async Task SendFilterUpdateAsync(
        EventSubscription subscription,
        FilterConfig filter,
        CancellationToken cancellationToken)
    {
        StreamSession? session;
        lock (_gate)
        {
            session = _session;
            session?.Send(new ClientMessage
            {
                FilterUpdate = new FilterUpdate { SubscriptionId = subscription.Id, Filter = filter },
            });
        }

        if (session is not null)
        {
            await session.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends the subscription's acks, then an unsubscribe, and waits for the confirmation (or the stream's
    /// end).</summary>
    internal async Task UnsubscribeAsync(EventSubscription subscription)
    {
        StreamSession? session;
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(subscription.Id, out var current) || current != subscription)
            {
                return;
            }

            _subscriptions.Remove(subscription.Id);
            session = _session;
            if (session is null)
            {
                return;
            }

            _closing[subscription.Id] = subscription;
            // Acks first: the same queue keeps the order.
            session.RequestFlush();
            session.Send(
                new ClientMessage { Unsubscribe = new UnsubscribeRequest { SubscriptionId = subscription.Id } });
        }

        try
        {
            await Task.WhenAny(subscription.Unsubscribed, session.Ended)
                .WaitAsync(_options.ConnectTimeout, Time)
                .ConfigureAwait(false);
            ClientLog.Unsubscribed(Logger, subscription.Id);
        }
        catch (TimeoutException)
        {
            // The gateway did not confirm in time; the stream's end releases the subscription anyway.
        }
        finally
        {
            lock (_gate)
            {
                _closing.Remove(subscription.Id);
            }
        }
    }
}
