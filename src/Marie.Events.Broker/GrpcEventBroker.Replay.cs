using Marie.Events.Broker.Access;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker;

public sealed partial class GrpcEventBroker
{
    /// <summary>
    /// The unary replay: the events still in the ring with sequence &gt; <c>from_sequence_num</c>, at most
    /// <c>max_events</c> (0: <see cref="BrokerOptions.DefaultReplayMaxEvents"/>), as envelopes with an empty ack id
    /// and delivery attempt 0. <c>has_more</c> is true only when more events follow the last one returned. An unknown
    /// topic answers like an empty one.
    /// </summary>
    /// <exception cref="ArgumentException">Empty topic, or a negative number.</exception>
    /// <exception cref="BrokerLimitException"><c>max_events</c> over <c>max_replay_events</c>.</exception>
    public ReplayResponse GetReplayBuffer(ReplayRequest request) => GetReplayBuffer(request, ConnectionAccess.All);

    /// <summary>The unary replay for a caller that sees only the topics <paramref name="access"/> allows.</summary>
    /// <exception cref="ArgumentException">Empty topic, or a negative number.</exception>
    /// <exception cref="TopicAccessDeniedException">A topic the caller may not see, whether it exists or not.</exception>
    /// <exception cref="BrokerLimitException"><c>max_events</c> over <c>max_replay_events</c>.</exception>
    public ReplayResponse GetReplayBuffer(ReplayRequest request, ConnectionAccess access)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(access);
        if (string.IsNullOrEmpty(request.Topic))
        {
            throw new ArgumentException("topic is required", nameof(request));
        }

        if (request.FromSequenceNum < 0)
        {
            throw new ArgumentException($"from_sequence_num must be 0 or more (got {request.FromSequenceNum})", nameof(request));
        }

        if (request.MaxEvents < 0)
        {
            throw new ArgumentException($"max_events must be 0 or more (got {request.MaxEvents})", nameof(request));
        }

        var limits = Settings.Limits;
        if (request.MaxEvents > limits.MaxReplayEvents)
        {
            throw BrokerLimitException.Create(LimitNames.MaxReplayEvents, limits.MaxReplayEvents, "max_events asks for more events than one call returns");
        }

        CheckTopicName(request.Topic);
        if (!access.CanSee(request.Topic))
        {
            throw TopicAccessDeniedException.For(request.Topic);
        }

        var response = new ReplayResponse();
        if (!_topics.TryGetValue(request.Topic, out var topic))
        {
            return response;
        }

        var log = topic.Log;
        var head = log.Head;
        var max = request.MaxEvents == 0 ? Settings.DefaultReplayMaxEvents : request.MaxEvents;
        // From the head or past it (long.MaxValue included, where + 1 would wrap): nothing to return.
        var sequence = request.FromSequenceNum >= head ? head + 1 : Math.Max(request.FromSequenceNum + 1, log.FirstAvailable);
        while (sequence <= head && response.Events.Count < max)
        {
            var outcome = log.TryRead(sequence, out var stored);
            if (outcome == ReadOutcome.Overwritten)
            {
                // Overwritten while we read: continue from the oldest event still held.
                sequence = Math.Max(sequence + 1, log.FirstAvailable);
                continue;
            }

            response.Events.Add(new EventEnvelope
            {
                SequenceNum = stored!.Sequence,
                Event = stored.Data,
                PublishedAt = stored.PublishedAt,
            });
            sequence++;
        }

        response.TopicHead = head;
        response.HasMore = sequence <= head;
        response.Epoch = log.Epoch;
        return response;
    }
}
