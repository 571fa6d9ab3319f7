using Marie.Events.Broker.Limits;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Topics;

/// <summary>The unary replay of one topic (<c>GetReplayBuffer</c>): which requests are valid, and what a ring gives
/// back for one.</summary>
internal static class TopicReplay
{
    /// <summary>Checks a request's topic and numbers, and <c>max_events</c> against <c>max_replay_events</c>.</summary>
    /// <exception cref="ArgumentException">Empty topic, or a negative number.</exception>
    /// <exception cref="BrokerLimitException"><c>max_events</c> over <c>max_replay_events</c>.</exception>
    public static void Check(ReplayRequest request, BrokerLimits limits)
    {
        if (string.IsNullOrEmpty(request.Topic))
        {
            throw new ArgumentException("topic is required", nameof(request));
        }

        if (request.FromSequenceNum < 0)
        {
            throw new ArgumentException(
                $"from_sequence_num must be 0 or more (got {request.FromSequenceNum})", nameof(request));
        }

        if (request.MaxEvents < 0)
        {
            throw new ArgumentException($"max_events must be 0 or more (got {request.MaxEvents})", nameof(request));
        }

        if (request.MaxEvents > limits.MaxReplayEvents)
        {
            throw BrokerLimitException.Create(LimitNames.MaxReplayEvents, limits.MaxReplayEvents,
                "max_events asks for more events than one call returns");
        }
    }

    /// <summary>
    /// The events still in <paramref name="log"/> with sequence &gt; <paramref name="fromSequence"/>, at most
    /// <paramref name="max"/>, as envelopes with an empty ack id and delivery attempt 0, with the topic's head and
    /// epoch. <c>has_more</c> is true only when more events follow the last one returned.
    /// </summary>
    public static ReplayResponse Read(ITopicLog log, long fromSequence, int max)
    {
        var response = new ReplayResponse();
        var head = log.Head;
        // From the head or past it (long.MaxValue included, where + 1 would wrap): nothing to return.
        var sequence = fromSequence >= head ? head + 1 : Math.Max(fromSequence + 1, log.FirstAvailable);
        while (sequence <= head && response.Events.Count < max)
        {
            var outcome = log.TryRead(sequence, out var stored);
            if (outcome == ReadOutcome.Overwritten)
            {
                // Overwritten while we read: continue from the oldest event still held.
                sequence = Math.Max(sequence + 1, log.FirstAvailable);
                continue;
            }

            var envelope = new EventEnvelope
            {
                SequenceNum = stored!.Sequence,
                PublishedAt = stored.PublishedAt,
            };
            if (stored.HasTraceContext)
            {
                // As on the stream: the trace context in the envelope, not in its event.
                envelope.Event = EventData.Parser.ParseFrom(stored.DataBytes);
                TraceContextBytes.AddTo(stored.TraceContextBytes, envelope.TraceContext);
            }
            else
            {
                envelope.Event = stored.Data;
            }

            response.Events.Add(envelope);
            sequence++;
        }

        response.TopicHead = head;
        response.HasMore = sequence <= head;
        response.Epoch = log.Epoch;
        return response;
    }
}
