using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>
/// Where a new subscription starts on one topic, and whether the client's resume point was from another epoch.
/// </summary>
internal readonly record struct TopicStart(long Watermark, bool EpochChanged, string? ExpectedEpoch);

/// <summary>
/// A subscribe request's replay settings: the legacy <c>last_sequence_num</c>, the per-topic <c>resume_from</c> map,
/// the expected epochs and <c>replay_count</c>. Decides, under the topic's lock, where the subscription starts.
/// </summary>
internal sealed class ResumePlan(SubscribeRequest request, bool singleTopic)
{
    private readonly long? _lastSequence = request.HasLastSequenceNum ? request.LastSequenceNum : null;
    private readonly int? _replayCount = request.HasReplayCount ? request.ReplayCount : null;

    public TopicStart StartFor(ITopicLog log, EventFilter filter)
    {
        var head = log.Head;
        var first = log.FirstAvailable;
        long? resume;
        bool topicSpecific;
        if (request.ResumeFrom.TryGetValue(log.Topic, out var fromMap))
        {
            resume = fromMap;
            topicSpecific = true;
        }
        else
        {
            resume = _lastSequence;
            topicSpecific = singleTopic;
        }

        long watermark;
        var hasEpoch = request.TopicEpochs.TryGetValue(log.Topic, out var expected);
        if (hasEpoch && !string.Equals(expected, log.Epoch, StringComparison.Ordinal))
        {
            return Capped(log, filter, first - 1, new TopicStart(first - 1, true, expected));
        }

        if (resume > head)
        {
            if (topicSpecific && hasEpoch)
            {
                // Same epoch, a point past the head: this gateway lags (a cluster peer filed events it has not seen
                // yet). The position waits at the point: what comes up to it is skipped (Offer and the ring read
                // both start after the watermark), what follows it is delivered. replay_count has nothing to replay.
                return new TopicStart(resume.Value, false, null);
            }

            if (topicSpecific)
            {
                // A resume point past the head and no epoch to tell: the log was reset (a restart) since the client
                // read it.
                return Capped(log, filter, first - 1, new TopicStart(first - 1, true, expected));
            }

            // One legacy number for several topics says nothing about this one: start live.
            watermark = head;
        }
        else if (resume.HasValue)
        {
            watermark = resume.Value;
        }
        else if (_replayCount.HasValue)
        {
            watermark = first - 1;
        }
        else
        {
            watermark = head;
        }

        return Capped(log, filter, watermark, new TopicStart(watermark, false, null));
    }

    /// <summary>Applies <c>replay_count</c>: keeps only the most recent matching events of the replay range.</summary>
    private TopicStart Capped(ITopicLog log, EventFilter filter, long watermark, TopicStart start)
    {
        if (_replayCount is not { } count)
        {
            return start;
        }

        var head = log.Head;
        if (count == 0)
        {
            return start with { Watermark = head };
        }

        var matched = 0;
        var lowest = Math.Max(watermark + 1, log.FirstAvailable);
        for (var sequence = head; sequence >= lowest; sequence--)
        {
            if (log.TryRead(sequence, out var stored) == ReadOutcome.Found
                && filter.Matches(stored!)
                && ++matched == count)
            {
                return start with { Watermark = sequence - 1 };
            }
        }

        return start;
    }
}
