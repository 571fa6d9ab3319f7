using System.Globalization;
using Marie.Events.Broker.Subscriptions;
using Access_ = Marie.Events.Broker.Access;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

public sealed partial class BrokerConnection
{
    /// <summary>
    /// Processes one client message: subscribe, unsubscribe, ack, heartbeat or filter update. Answers and errors are
    /// queued for the writer. Waits only while too many answers are queued (a client that sends but does not read).
    /// </summary>
    public async ValueTask HandleAsync(ClientMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        await WaitForReplyRoomAsync(cancellationToken).ConfigureAwait(false);
        if (!WithinLimits(message))
        {
            return;
        }

        switch (message.MessageCase)
        {
            case ClientMessage.MessageOneofCase.Subscribe:
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
                EnqueueError("", ErrorCode.ErrorInvalidRequest, "empty client message: set one of subscribe, unsubscribe, ack, heartbeat, filter_update",
                    ("field", "message"));
                break;
        }
    }

    private void Subscribe(SubscribeRequest request)
    {
        var id = request.SubscriptionId;
        if (string.IsNullOrEmpty(id))
        {
            EnqueueError("", ErrorCode.ErrorInvalidRequest, "subscription_id is required", ("field", "subscription_id"));
            return;
        }

        if (Invalid(request) is { } problem)
        {
            EnqueueError(id, ErrorCode.ErrorInvalidRequest, problem.Message, ("field", problem.Field));
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
                EnqueueError(id, ErrorCode.ErrorInvalidSubscription, $"subscription '{id}' is already open on this stream: unsubscribe it first or pick another id",
                    ("field", "subscription_id"));
                return;
            }

            var number = ++_nextSubscriptionNumber;
            subscription = new Subscription(this, number, id, filter, wildcard, requested);
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
        EnqueueReply(new ServerMessage { SubscriptionConfirm = BuildConfirm(subscription, attached) });
        foreach (var topic in attached.Where(t => t.Start.EpochChanged))
        {
            var expected = topic.Start.ExpectedEpoch ?? "";
            Broker.Log.EpochChanged(id, topic.Topic, expected, topic.Epoch);
            var error = new ErrorMessage
            {
                SubscriptionId = id,
                Code = ErrorCode.ErrorEpochChanged,
                Message = $"topic '{topic.Topic}' has a new epoch since your resume point: replaying from the start of its ring",
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

    private static (string Field, string Message)? Invalid(SubscribeRequest request)
    {
        if (request.Topics.Count == 0)
        {
            return ("topics", "topics must name at least one topic, or \"*\"");
        }

        if (request.Topics.Any(string.IsNullOrEmpty))
        {
            return ("topics", "topics must not contain an empty name");
        }

        if (request.HasLastSequenceNum && request.LastSequenceNum < 0)
        {
            return ("last_sequence_num", $"last_sequence_num must be 0 or more (got {request.LastSequenceNum})");
        }

        if (request.HasReplayCount && request.ReplayCount < 0)
        {
            return ("replay_count", $"replay_count must be 0 or more (got {request.ReplayCount})");
        }

        foreach (var (topic, sequence) in request.ResumeFrom)
        {
            if (sequence < 0)
            {
                return ("resume_from", $"resume_from['{topic}'] must be 0 or more (got {sequence})");
            }
        }

        return null;
    }

    private static SubscriptionConfirm BuildConfirm(Subscription subscription, List<AttachedTopic> attached)
    {
        var confirm = new SubscriptionConfirm { SubscriptionId = subscription.Id };
        confirm.Topics.AddRange(subscription.RequestedTopics);
        long replayFrom = 0, head = 0;
        foreach (var topic in attached)
        {
            confirm.TopicEpochs[topic.Topic] = topic.Epoch;
            confirm.TopicReplayFrom[topic.Topic] = topic.ReplayFrom;
            confirm.TopicHeads[topic.Topic] = topic.Head;
            if (topic.ReplayFrom > 0 && (replayFrom == 0 || topic.ReplayFrom < replayFrom))
            {
                replayFrom = topic.ReplayFrom;
            }

            head = Math.Max(head, topic.Head);
        }

        confirm.ReplayFrom = replayFrom;
        confirm.CurrentHead = head;
        return confirm;
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
            EnqueueError(request.SubscriptionId, ErrorCode.ErrorInvalidSubscription, $"no subscription '{request.SubscriptionId}' is open on this stream",
                ("field", "subscription_id"));
            return;
        }

        Broker.RemoveSubscription(subscription);
        Broker.Log.SubscriptionRemoved(subscription.Id);
        EnqueueReply(new ServerMessage { UnsubscriptionConfirm = new UnsubscriptionConfirm { SubscriptionId = subscription.Id } });
    }

    private void UpdateFilter(FilterUpdate update)
    {
        var subscription = Find(update.SubscriptionId);
        if (subscription is null)
        {
            EnqueueError(update.SubscriptionId, ErrorCode.ErrorInvalidSubscription, $"no subscription '{update.SubscriptionId}' is open on this stream",
                ("field", "subscription_id"));
            return;
        }

        Broker.UpdateFilter(subscription, subscription.Filter.WithConfig(update.Filter));
    }

    private Subscription? Find(string id)
    {
        lock (_gate)
        {
            return _subscriptions.GetValueOrDefault(id);
        }
    }

    private Subscription? Find(int number)
    {
        lock (_gate)
        {
            if (_byNumber is not null)
            {
                return _byNumber.GetValueOrDefault(number);
            }

            foreach (var subscription in _subscriptions.Values)
            {
                if (subscription.Number == number)
                {
                    return subscription;
                }
            }

            return null;
        }
    }

    private void Ack(AckMessage ack)
    {
        Subscription? named = null;
        if (!string.IsNullOrEmpty(ack.SubscriptionId))
        {
            named = Find(ack.SubscriptionId);
            if (named is null)
            {
                EnqueueError(ack.SubscriptionId, ErrorCode.ErrorInvalidSubscription, $"no subscription '{ack.SubscriptionId}' is open on this stream",
                    ("field", "subscription_id"));
                return;
            }
        }

        switch (ack.AckModeCase)
        {
            case AckMessage.AckModeOneofCase.Individual:
                AckIndividual(ack.Individual.AckIds);
                break;
            case AckMessage.AckModeOneofCase.Cumulative:
                AckCumulative(ack.SubscriptionId, named, ack.Cumulative);
                break;
            default:
                EnqueueError(ack.SubscriptionId, ErrorCode.ErrorInvalidRequest, "ack needs individual or cumulative", ("field", "ack_mode"));
                break;
        }
    }

    /// <summary>Settles each ack id of this stream (the id names its subscription and topic); ids of other streams,
    /// unknown or already settled ones are ignored.</summary>
    private void AckIndividual(IEnumerable<string> ackIds)
    {
        Subscription? touched = null;
        foreach (var ackId in ackIds)
        {
            if (!TryParseAckId(ackId, out var subscriptionNumber, out var topicNumber, out var sequence))
            {
                continue;
            }

            var subscription = touched?.Number == subscriptionNumber ? touched : Find(subscriptionNumber);
            if (subscription is null)
            {
                continue;
            }

            if (touched is not null && touched != subscription)
            {
                lock (touched.Gate)
                {
                    touched.AfterAcks();
                }
            }

            touched = subscription;
            lock (subscription.Gate)
            {
                if (subscription.TryGetTopic(topicNumber, out var position))
                {
                    subscription.AckOne(position!, sequence);
                }
            }
        }

        if (touched is not null)
        {
            lock (touched.Gate)
            {
                touched.AfterAcks();
            }
        }
    }

    private void AckCumulative(string subscriptionId, Subscription? subscription, CumulativeAck cumulative)
    {
        if (string.IsNullOrEmpty(cumulative.Topic))
        {
            EnqueueError(subscriptionId, ErrorCode.ErrorInvalidRequest, "cumulative ack needs its topic: sequence numbers are per topic", ("field", "cumulative.topic"));
            return;
        }

        if (subscription is null)
        {
            EnqueueError(subscriptionId, ErrorCode.ErrorInvalidSubscription, "cumulative ack needs its subscription_id", ("field", "subscription_id"));
            return;
        }

        if (!Access.CanSee(cumulative.Topic))
        {
            EnqueueError(subscriptionId, ErrorCode.ErrorPermissionDenied, Access_.TopicAccessDeniedException.DeniedMessage(cumulative.Topic),
                ("field", "cumulative.topic"), ("topic", cumulative.Topic));
            return;
        }

        lock (subscription.Gate)
        {
            if (subscription.TryGetTopic(cumulative.Topic, out var position))
            {
                subscription.AckUpTo(position!, cumulative.UpToSequenceNum);
                subscription.AfterAcks();
            }
        }
    }

    /// <summary>Ack ids read <c>tag.subscription.topic.sequence</c>; the tag must be this connection's.</summary>
    private bool TryParseAckId(string ackId, out int subscriptionNumber, out int topicNumber, out long sequence)
    {
        subscriptionNumber = topicNumber = 0;
        sequence = 0;
        var span = ackId.AsSpan();
        if (!span.StartsWith(Tag, StringComparison.Ordinal) || span.Length <= Tag.Length || span[Tag.Length] != '.')
        {
            return false;
        }

        span = span[(Tag.Length + 1)..];
        var first = span.IndexOf('.');
        if (first < 0 || !int.TryParse(span[..first], NumberStyles.None, CultureInfo.InvariantCulture, out subscriptionNumber))
        {
            return false;
        }

        span = span[(first + 1)..];
        var second = span.IndexOf('.');
        return second >= 0
            && int.TryParse(span[..second], NumberStyles.None, CultureInfo.InvariantCulture, out topicNumber)
            && long.TryParse(span[(second + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
    }
}
