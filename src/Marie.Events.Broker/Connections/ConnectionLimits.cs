using System.Globalization;
using Google.Protobuf.Collections;
using Marie.Events.Broker.Limits;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>
/// One connection's limits on what its client sends: the message bucket (<c>client_messages_per_second</c>, burst
/// <c>client_message_burst</c>) and the size limits of each message. A message over a limit is answered with
/// <c>ERROR_RATE_LIMITED</c> on the connection and not processed; the stream stays open. Used by the connection's
/// read loop only, like its <see cref="TokenBucket"/>.
/// </summary>
internal sealed class ConnectionLimits
{
    private readonly BrokerConnection _connection;
    private readonly BrokerLimits _limits;
    private readonly TokenBucket _messageBucket;

    public ConnectionLimits(BrokerConnection connection, TimeProvider time, BrokerLimits limits)
    {
        _connection = connection;
        _limits = limits;
        _messageBucket = new TokenBucket(time, limits.ClientMessagesPerSecond, limits.ClientMessageBurst);
    }

    /// <summary>
    /// Takes one token of the message bucket; when it is empty, queues <c>ERROR_RATE_LIMITED</c> and returns false:
    /// the message is not processed, the stream stays open.
    /// </summary>
    public bool TakeMessageToken(string subscriptionId = "")
    {
        if (_messageBucket.TryTake())
        {
            return true;
        }

        var limits = _limits;
        var retryAfter = _messageBucket.MillisecondsUntilNext().ToString(CultureInfo.InvariantCulture);
        Refuse(subscriptionId, LimitNames.ClientMessagesPerSecond, limits.ClientMessagesPerSecond,
            "too many client messages on this stream; this one was not processed, send it again later", "message",
            ("retry_after_ms", retryAfter));
        return false;
    }

    /// <summary>Checks a client message against the limits; over one, queues the error and returns false.</summary>
    public bool WithinLimits(ClientMessage message)
    {
        var id = SubscriptionIdOf(message);
        if (!TakeMessageToken(ShortEnough(id)))
        {
            return false;
        }

        var problem = message.MessageCase switch
        {
            ClientMessage.MessageOneofCase.Subscribe => CheckSubscribe(message.Subscribe),
            ClientMessage.MessageOneofCase.Unsubscribe => CheckId(message.Unsubscribe.SubscriptionId),
            ClientMessage.MessageOneofCase.FilterUpdate =>
                CheckId(message.FilterUpdate.SubscriptionId) ?? CheckFilter([], message.FilterUpdate.Filter),
            ClientMessage.MessageOneofCase.Ack => CheckAck(message.Ack),
            _ => null,
        };

        if (problem is not { } p)
        {
            return true;
        }

        Refuse(ShortEnough(id), p.Limit, p.Max, p.What, p.Field);
        return false;
    }

    private void Refuse(string subscriptionId, string limit, int max, string what, string field,
        params (string Key, string Value)[] extra)
    {
        var text = LimitText.Describe(limit, max, what);
        _connection.Broker.Log.LimitExceeded(_connection.Id, limit, what);
        var details = new List<(string, string)>
        {
            ("limit", limit),
            ("max", max.ToString(CultureInfo.InvariantCulture)),
            ("field", field),
        };
        details.AddRange(extra);
        _connection.EnqueueError(subscriptionId, ErrorCode.ErrorRateLimited, text, [.. details]);
    }

    /// <summary>An id echoed in an error only when it is within <c>max_id_length</c>.</summary>
    private string ShortEnough(string id) => id.Length <= _limits.MaxIdLength ? id : "";

    private static string SubscriptionIdOf(ClientMessage message) => message.MessageCase switch
    {
        ClientMessage.MessageOneofCase.Subscribe => message.Subscribe.SubscriptionId,
        ClientMessage.MessageOneofCase.Unsubscribe => message.Unsubscribe.SubscriptionId,
        ClientMessage.MessageOneofCase.FilterUpdate => message.FilterUpdate.SubscriptionId,
        ClientMessage.MessageOneofCase.Ack => message.Ack.SubscriptionId,
        _ => "",
    };

    private LimitBreach? CheckId(string id) =>
        id.Length > _limits.MaxIdLength
            ? new(LimitNames.MaxIdLength, _limits.MaxIdLength, "subscription_id is too long", "subscription_id")
            : null;

    private LimitBreach? CheckString(string value, string field) =>
        value.Length > _limits.MaxStringLength
            ? new(LimitNames.MaxStringLength, _limits.MaxStringLength, $"a value of {field} is too long", field)
            : null;

    private LimitBreach? CheckStrings(IEnumerable<string> values, string field)
    {
        foreach (var value in values)
        {
            if (CheckString(value, field) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private LimitBreach? CheckSubscribe(SubscribeRequest request)
    {
        var limits = _limits;
        if (CheckId(request.SubscriptionId) is { } idProblem)
        {
            return idProblem;
        }

        if (_connection.OpenSubscriptions >= limits.MaxSubscriptionsPerStream)
        {
            return new(LimitNames.MaxSubscriptionsPerStream, limits.MaxSubscriptionsPerStream,
                "this stream has as many open subscriptions as it may: unsubscribe one first", "subscription_id");
        }

        if (request.Topics.Count > limits.MaxTopicsPerSubscription
            || request.ResumeFrom.Count > limits.MaxTopicsPerSubscription
            || request.TopicEpochs.Count > limits.MaxTopicsPerSubscription)
        {
            return new(LimitNames.MaxTopicsPerSubscription, limits.MaxTopicsPerSubscription,
                "the subscription names too many topics", "topics");
        }

        if (request.HasReplayCount && request.ReplayCount > limits.MaxReplayCount)
        {
            return new(LimitNames.MaxReplayCount, limits.MaxReplayCount,
                "replay_count asks for more events than a subscription may replay", "replay_count");
        }

        return CheckStrings(request.Topics, "topics")
            ?? CheckStrings(request.ResumeFrom.Keys, "resume_from")
            ?? CheckStrings(request.TopicEpochs.Keys, "topic_epochs")
            ?? CheckStrings(request.TopicEpochs.Values, "topic_epochs")
            ?? CheckFilter(request.Events, request.Filter);
    }

    private LimitBreach? CheckFilter(RepeatedField<string> events, FilterConfig? filter)
    {
        var limits = _limits;
        var config = filter ?? new FilterConfig();
        var entries = (long)events.Count + config.IncludeSources.Count + config.ExcludeSources.Count
            + config.Jobids.Count + config.MetadataMatch.Count;
        if (entries > limits.MaxFilterEntries)
        {
            return new(LimitNames.MaxFilterEntries, limits.MaxFilterEntries,
                "events and filter hold too many entries together", "filter");
        }

        return CheckStrings(events, "events")
            ?? CheckStrings(config.IncludeSources, "filter.include_sources")
            ?? CheckStrings(config.ExcludeSources, "filter.exclude_sources")
            ?? CheckStrings(config.Jobids, "filter.jobids")
            ?? CheckStrings(config.MetadataMatch.Keys, "filter.metadata_match")
            ?? CheckStrings(config.MetadataMatch.Values, "filter.metadata_match");
    }

    private LimitBreach? CheckAck(AckMessage ack)
    {
        if (CheckId(ack.SubscriptionId) is { } idProblem)
        {
            return idProblem;
        }

        var (ids, field) = ack.AckModeCase switch
        {
            AckMessage.AckModeOneofCase.Individual => (ack.Individual.AckIds, "individual.ack_ids"),
            AckMessage.AckModeOneofCase.Nack => (ack.Nack.AckIds, "nack.ack_ids"),
            AckMessage.AckModeOneofCase.Terminate => (ack.Terminate.AckIds, "terminate.ack_ids"),
            AckMessage.AckModeOneofCase.Extend => (ack.Extend.AckIds, "extend.ack_ids"),
            _ => (null, ""),
        };

        if (ids is not null)
        {
            if (ids.Count > _limits.MaxAckIdsPerMessage)
            {
                return new(LimitNames.MaxAckIdsPerMessage, _limits.MaxAckIdsPerMessage,
                    "the ack names too many ack ids: send several", field);
            }

            return CheckStrings(ids, field);
        }

        return ack.AckModeCase == AckMessage.AckModeOneofCase.Cumulative
            ? CheckString(ack.Cumulative.Topic, "cumulative.topic")
            : null;
    }
}
