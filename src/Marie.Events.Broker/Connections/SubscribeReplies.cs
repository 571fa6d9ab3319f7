using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>How a subscribe request is judged before the broker sees it, and the confirm it is answered with.</summary>
internal static class SubscribeReplies
{
    /// <summary>The field and text of an <c>ERROR_INVALID_REQUEST</c> for a malformed request; null when it is
    /// well formed.</summary>
    public static (string Field, string Message)? Invalid(SubscribeRequest request)
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

    /// <summary>The confirm of an attached subscription: per topic its epoch, replay start and head; overall the
    /// lowest replay start and the highest head.</summary>
    public static SubscriptionConfirm Confirm(Subscription subscription, List<AttachedTopic> attached)
    {
        var confirm = new SubscriptionConfirm { SubscriptionId = subscription.Id };
        confirm.Topics.AddRange(subscription.RequestedTopics);
        if (subscription.Durable is { } durable)
        {
            confirm.DurableName = durable.Name;
            confirm.Group = durable.Group;
        }

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
        var policy = subscription.Policy;
        var settings = subscription.Connection.Broker.Settings;
        confirm.MaxRedeliveryAttempts = policy.MaxAttempts;
        if (policy.HasBackoff)
        {
            confirm.RedeliveryBackoffMs.AddRange(policy.Waits.Select(w => (long)w.TotalMilliseconds));
        }

        confirm.AckTimeoutMs = (long)settings.AckTimeout.TotalMilliseconds;
        confirm.MaxAckExtensionMs = (long)settings.MaxAckExtension.TotalMilliseconds;
        return confirm;
    }
}
