using Marie.Events.Broker.Access;
using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>The connection's acks: each settles in-flight events of its own subscriptions only (the settle verbs
/// nack, terminate and extend are in <c>BrokerConnection.Settle.cs</c>).</summary>
public sealed partial class BrokerConnection
{
    private void Ack(AckMessage ack)
    {
        Subscription? named = null;
        if (!string.IsNullOrEmpty(ack.SubscriptionId))
        {
            named = Find(ack.SubscriptionId);
            if (named is null)
            {
                EnqueueError(
                    ack.SubscriptionId,
                    ErrorCode.ErrorInvalidSubscription,
                    $"no subscription '{ack.SubscriptionId}' is open on this stream",
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
            case AckMessage.AckModeOneofCase.Nack:
            case AckMessage.AckModeOneofCase.Terminate:
            case AckMessage.AckModeOneofCase.Extend:
                SettleVerb(ack);
                break;
            default:
                EnqueueError(
                    ack.SubscriptionId,
                    ErrorCode.ErrorInvalidRequest,
                    "ack needs individual, cumulative, nack, terminate or extend",
                    ("field", "ack_mode"));
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
            if (!AckId.TryParse(ackId, Tag, out var subscriptionNumber, out var topicNumber, out var sequence))
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
            EnqueueError(
                subscriptionId,
                ErrorCode.ErrorInvalidRequest,
                "cumulative ack needs its topic: sequence numbers are per topic",
                ("field", "cumulative.topic"));
            return;
        }

        if (subscription is null)
        {
            EnqueueError(
                subscriptionId,
                ErrorCode.ErrorInvalidSubscription,
                "cumulative ack needs its subscription_id",
                ("field", "subscription_id"));
            return;
        }

        if (!Access.CanSee(cumulative.Topic))
        {
            EnqueueError(
                subscriptionId,
                ErrorCode.ErrorPermissionDenied,
                TopicAccessDeniedException.DeniedMessage(cumulative.Topic),
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
}
