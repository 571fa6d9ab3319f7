using Marie.Events.Broker.Access;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>The connection's read side: the client messages it handles, except acks (see
/// <c>BrokerConnection.Acks.cs</c>).</summary>
public sealed partial class BrokerConnection
{
    private int _nextSubscriptionNumber;

    /// <summary>
    /// Processes one client message: subscribe, unsubscribe, ack, heartbeat or filter update. Answers and errors are
    /// queued for the writer. Waits only while too many answers are queued (a client that sends but does not read).
    /// </summary>
    public async ValueTask HandleAsync(ClientMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        Volatile.Write(ref _lastHeardAt, Broker.Time.GetTimestamp());
        await WaitForReplyRoomAsync(cancellationToken).ConfigureAwait(false);
        if (!_limits.WithinLimits(message))
        {
            return;
        }

        switch (message.MessageCase)
        {
            case ClientMessage.MessageOneofCase.Subscribe:
                if (message.Subscribe.DurableName.Length > 0)
                {
                    await SubscribeDurableAsync(message.Subscribe, cancellationToken).ConfigureAwait(false);
                    break;
                }

                Subscribe(message.Subscribe);
                break;
            case ClientMessage.MessageOneofCase.Unsubscribe:
                Unsubscribe(message.Unsubscribe);
                break;
            case ClientMessage.MessageOneofCase.Ack:
                Ack(message.Ack);
                break;
            case ClientMessage.MessageOneofCase.FilterUpdate:
                UpdateFilter(message.FilterUpdate);
                break;
            case ClientMessage.MessageOneofCase.Heartbeat:
                // The stream being open is what keeps a connection alive; a client heartbeat needs no answer.
                break;
            default:
                EnqueueError(
                    "",
                    ErrorCode.ErrorInvalidRequest,
                    "empty client message: set one of subscribe, unsubscribe, ack, heartbeat, filter_update",
                    ("field", "message"));
                break;
        }
    }

    /// <summary>
    /// Answers a client message that its host refused before the broker saw it (for example a topic that is another
    /// tenant's API key) with an <see cref="ErrorMessage"/>, in order with the other answers. Counts as a client
    /// message for the rate limit, and waits like <see cref="HandleAsync"/> while too many answers are queued.
    /// </summary>
    public async ValueTask RejectAsync(string subscriptionId, ErrorCode code, string message,
        IEnumerable<KeyValuePair<string, string>>? details = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        await WaitForReplyRoomAsync(cancellationToken).ConfigureAwait(false);
        if (!_limits.TakeMessageToken())
        {
            return;
        }

        var pairs = (details ?? []).Select(kv => (kv.Key, kv.Value)).ToArray();
        EnqueueError(subscriptionId ?? "", code, message, pairs);
    }

    private void Subscribe(SubscribeRequest request)
    {
        var id = request.SubscriptionId;
        if (string.IsNullOrEmpty(id))
        {
            EnqueueError(
                "",
                ErrorCode.ErrorInvalidRequest,
                "subscription_id is required",
                ("field", "subscription_id"));
            return;
        }

        if (SubscribeReplies.Invalid(request) is { } problem)
        {
            EnqueueError(id, ErrorCode.ErrorInvalidRequest, problem.Message, ("field", problem.Field));
            return;
        }

        var (policy, policyField, policyProblem) =
            RedeliveryPolicy.For(request, Broker.DefaultPolicy, Broker.Settings, Broker.Time);
        if (policy is null)
        {
            EnqueueError(id, ErrorCode.ErrorInvalidRequest, policyProblem!, ("field", policyField!));
            return;
        }

        if (DurableProblem(request) is { } durableProblem)
        {
            EnqueueError(id, durableProblem.Code, durableProblem.Message, ("field", durableProblem.Field));
            return;
        }

        var requested = request.Topics.Distinct(StringComparer.Ordinal).ToArray();
        var wildcard = requested.Contains("*");
        var named = requested.Where(t => t != "*").ToArray();
        var filter = EventFilter.Create(request.Events, request.Filter);
        Subscription subscription;
        lock (_gate)
        {
            if (_subscriptions.ContainsKey(id))
            {
                EnqueueError(
                    id,
                    ErrorCode.ErrorInvalidSubscription,
                    $"subscription '{id}' is already open on this stream: unsubscribe it first or pick another id",
                    ("field", "subscription_id"));
                return;
            }

            var number = ++_nextSubscriptionNumber;
            var made = NewSubscription(request, number, filter, wildcard, requested, policy);
            if (made is null)
            {
                return;
            }

            subscription = made;

            _subscriptions.Add(id, subscription);
            if (_byNumber is not null)
            {
                _byNumber.Add(number, subscription);
            }
            else if (_subscriptions.Count > ScanLimit)
            {
                _byNumber = _subscriptions.Values.ToDictionary(s => s.Number);
            }
        }

        var singleTopic = !wildcard && named.Length == 1;
        var attached = TryAttach(subscription, named, new ResumePlan(request, singleTopic));
        if (attached is null)
        {
            return;
        }
        EnqueueReply(new ServerMessage { SubscriptionConfirm = SubscribeReplies.Confirm(subscription, attached) });
        foreach (var topic in attached.Where(t => t.Start.EpochChanged))
        {
            var expected = topic.Start.ExpectedEpoch ?? "";
            Broker.Log.EpochChanged(id, topic.Topic, expected, topic.Epoch);
            var error = new ErrorMessage
            {
                SubscriptionId = id,
                Code = ErrorCode.ErrorEpochChanged,
                Message = $"topic '{topic.Topic}' has a new epoch since your resume point: "
                    + "replaying from the start of its ring",
            };
            error.Details["topic"] = topic.Topic;
            error.Details["expected_epoch"] = expected;
            error.Details["current_epoch"] = topic.Epoch;
            EnqueueNotice(new ServerMessage { Error = error });
        }

        if (Broker.Log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Information))
        {
            Broker.Log.SubscriptionCreated(id, "{" + string.Join(", ", requested) + "}");
        }
        lock (subscription.Gate)
        {
            subscription.Pump();
        }

        if (IsDisposed)
        {
            Broker.RemoveSubscription(subscription);
        }
    }

    /// <summary>Attaches a new subscription; when the broker refuses it (a topic the key may not see, or
    /// <c>max_topics</c>), takes it off this connection, queues the error and returns null.</summary>
    private List<AttachedTopic>? TryAttach(Subscription subscription, IReadOnlyList<string> named, ResumePlan plan)
    {
        (ErrorCode Code, string Message, (string, string)[] Details)? refusal;
        try
        {
            // Null: the connection was closed meanwhile and released the subscription; nothing to answer.
            return Broker.Attach(subscription, named, plan);
        }
        catch (TopicAccessDeniedException ex)
        {
            refusal = (ErrorCode.ErrorPermissionDenied, ex.Message, [("field", "topics"), ("topic", ex.Topic)]);
        }
        catch (BrokerLimitException ex)
        {
            Broker.Log.LimitExceeded(Id, ex.Limit, ex.Message);
            refusal = (ErrorCode.ErrorRateLimited, ex.Message,
                [("field", "topics"), ("limit", ex.Limit),
                    ("max", ex.Max.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        }

        TryTakeOff(subscription);

        // Never attached nor counted: closing it (under the topology lock, as always) is all there is to release.
        Broker.RemoveSubscription(subscription);

        EnqueueError(subscription.Id, refusal.Value.Code, refusal.Value.Message, refusal.Value.Details);
        return null;
    }

    private void Unsubscribe(UnsubscribeRequest request)
    {
        Subscription? subscription;
        lock (_gate)
        {
            if (_subscriptions.Remove(request.SubscriptionId, out subscription))
            {
                _byNumber?.Remove(subscription.Number);
            }
        }

        if (subscription is null)
        {
            EnqueueError(
                request.SubscriptionId,
                ErrorCode.ErrorInvalidSubscription,
                $"no subscription '{request.SubscriptionId}' is open on this stream",
                ("field", "subscription_id"));
            return;
        }

        Broker.RemoveSubscription(subscription);
        Broker.Log.SubscriptionRemoved(subscription.Id);
        EnqueueReply(new ServerMessage
        {
            UnsubscriptionConfirm = new UnsubscriptionConfirm { SubscriptionId = subscription.Id },
        });
    }

    private void UpdateFilter(FilterUpdate update)
    {
        var subscription = Find(update.SubscriptionId);
        if (subscription is null)
        {
            EnqueueError(
                update.SubscriptionId,
                ErrorCode.ErrorInvalidSubscription,
                $"no subscription '{update.SubscriptionId}' is open on this stream",
                ("field", "subscription_id"));
            return;
        }

        Broker.UpdateFilter(subscription, subscription.Filter.WithConfig(update.Filter));
    }
}
