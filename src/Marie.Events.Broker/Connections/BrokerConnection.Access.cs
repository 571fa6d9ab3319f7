using Marie.Events.Broker.Access;
using Marie.Events.Broker.Limits;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

public sealed partial class BrokerConnection
{
    private readonly TokenBucket _messageBucket;

    /// <summary>The topics this connection may see now.</summary>
    public ConnectionAccess Access => Volatile.Read(ref _access);

    /// <summary>Set by the broker under its topology lock.</summary>
    internal void SetAccess(ConnectionAccess access) => Volatile.Write(ref _access, access);

    /// <summary>
    /// Gives the connection new rights (its key's topics changed). A subscription that named a topic it may no
    /// longer see is closed: its in-flight events are released (nothing of it is delivered or redelivered after this
    /// returns, except a frame the writer had already taken) and the client gets an <c>ERROR_PERMISSION_DENIED</c>
    /// message with its <c>subscription_id</c> and <c>details</c> {topic, reason = "access_revoked"}. A <c>"*"</c>
    /// subscription leaves the topics it may no longer see and joins, live, those it now may.
    /// </summary>
    public void UpdateAccess(ConnectionAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (IsDisposed)
        {
            return;
        }

        foreach (var (subscription, topic) in Broker.ChangeAccess(this, access))
        {
            var removed = false;
            lock (_gate)
            {
                if (_subscriptions.TryGetValue(subscription.Id, out var open) && open == subscription)
                {
                    _subscriptions.Remove(subscription.Id);
                    _byNumber?.Remove(subscription.Number);
                    removed = true;
                }
            }

            if (!removed)
            {
                continue;
            }

            Broker.RemoveSubscription(subscription);
            Broker.Log.SubscriptionRevoked(subscription.Id, Id, topic);
            var error = new ErrorMessage
            {
                SubscriptionId = subscription.Id,
                Code = ErrorCode.ErrorPermissionDenied,
                Message = $"subscription '{subscription.Id}' was closed: {TopicAccessDeniedException.DeniedMessage(topic)} any more",
            };
            error.Details["topic"] = topic;
            error.Details["reason"] = "access_revoked";
            EnqueueNotice(new ServerMessage { Error = error });
        }
    }

    /// <summary>
    /// Answers a client message that its host refused before the broker saw it (for example a topic that is another
    /// tenant's API key) with an <see cref="ErrorMessage"/>, in order with the other answers. Counts as a client
    /// message for the rate limit, and waits like <see cref="HandleAsync"/> while too many answers are queued.
    /// </summary>
    public async ValueTask RejectAsync(string subscriptionId, ErrorCode code, string message, IEnumerable<KeyValuePair<string, string>>? details = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        await WaitForReplyRoomAsync(cancellationToken).ConfigureAwait(false);
        if (!TakeMessageToken())
        {
            return;
        }

        var pairs = (details ?? []).Select(kv => (kv.Key, kv.Value)).ToArray();
        EnqueueError(subscriptionId ?? "", code, message, pairs);
    }

    /// <summary>Attaches a new subscription; when the broker refuses it (a topic the key may not see, or
    /// <c>max_topics</c>), takes it off this connection, queues the error and returns null.</summary>
    private List<AttachedTopic>? TryAttach(Subscriptions.Subscription subscription, IReadOnlyList<string> named, Subscriptions.ResumePlan plan)
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
                [("field", "topics"), ("limit", ex.Limit), ("max", ex.Max.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        }

        lock (_gate)
        {
            if (_subscriptions.TryGetValue(subscription.Id, out var open) && open == subscription)
            {
                _subscriptions.Remove(subscription.Id);
                _byNumber?.Remove(subscription.Number);
            }
        }

        // Never attached nor counted: closing it (under the topology lock, as always) is all there is to release.
        Broker.RemoveSubscription(subscription);

        EnqueueError(subscription.Id, refusal.Value.Code, refusal.Value.Message, refusal.Value.Details);
        return null;
    }
}
