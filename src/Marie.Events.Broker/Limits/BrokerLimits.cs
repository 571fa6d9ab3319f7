namespace Marie.Events.Broker.Limits;

/// <summary>
/// Bounds on what one client may ask of the broker. Over a limit, a stream message is refused with an
/// <c>ERROR_RATE_LIMITED</c> <see cref="Protocol.ErrorMessage"/> whose message and <c>details.limit</c> name the limit
/// (the stream stays usable); a call (<see cref="GrpcEventBroker.PublishAsync"/>,
/// <see cref="GrpcEventBroker.GetReplayBuffer(Protocol.ReplayRequest)"/>) throws <see cref="BrokerLimitException"/>.
/// The names are the gateway's <c>gateway.limits.*</c> keys; every default is documented in docs/security.md.
/// </summary>
public sealed class BrokerLimits
{
    /// <summary>Open subscriptions per connection (<c>max_subscriptions_per_stream</c>, default 100).</summary>
    public int MaxSubscriptionsPerStream { get; set; } = 100;

    /// <summary>Topics one subscription may name (<c>max_topics_per_subscription</c>, default 100).</summary>
    public int MaxTopicsPerSubscription { get; set; } = 100;

    /// <summary>Entries of <c>events</c>, <c>include_sources</c>, <c>exclude_sources</c>, <c>jobids</c> and
    /// <c>metadata_match</c> together, per subscription or filter update
    /// (<c>max_filter_entries</c>, default 256).</summary>
    public int MaxFilterEntries { get; set; } = 256;

    /// <summary>Characters of a <c>subscription_id</c> (<c>max_id_length</c>, default 128).</summary>
    public int MaxIdLength { get; set; } = 128;

    /// <summary>Characters of any other string a client sends: topic and event names, filter entries, metadata
    /// keys and values, epochs, ack ids (<c>max_string_length</c>, default 1024).</summary>
    public int MaxStringLength { get; set; } = 1024;

    /// <summary>Client messages per second per connection, the token bucket's refill rate
    /// (<c>client_messages_per_second</c>, default 1000).</summary>
    public int ClientMessagesPerSecond { get; set; } = 1000;

    /// <summary>Client messages a connection may send at once before the rate applies, the bucket's size
    /// (<c>client_message_burst</c>, default 2000).</summary>
    public int ClientMessageBurst { get; set; } = 2000;

    /// <summary>
    /// Largest <c>replay_count</c> a subscription may ask for (<c>max_replay_count</c>, default 10000).
    /// </summary>
    public int MaxReplayCount { get; set; } = 10_000;

    /// <summary>
    /// Largest <c>max_events</c> of one <c>GetReplayBuffer</c> call (<c>max_replay_events</c>, default 1000).
    /// </summary>
    public int MaxReplayEvents { get; set; } = 1000;

    /// <summary>Topics the broker holds in all; publishing or subscribing to a new topic beyond it is refused
    /// (<c>max_topics</c>, default 10000).</summary>
    public int MaxTopics { get; set; } = 10_000;

    /// <summary>Ack ids in one individual ack (<c>max_ack_ids_per_message</c>, default 10000).</summary>
    public int MaxAckIdsPerMessage { get; set; } = 10_000;

    /// <summary>Returns the first invalid limit as (key, message), or null when all are valid.</summary>
    public (string Key, string Message)? Validate()
    {
        foreach (var (key, value) in Named())
        {
            if (value < 1)
            {
                return (key, $"must be at least 1 (got {value})");
            }
        }

        return null;
    }

    /// <summary>Each limit with its key.</summary>
    public IEnumerable<(string Key, int Value)> Named()
    {
        yield return (LimitNames.MaxSubscriptionsPerStream, MaxSubscriptionsPerStream);
        yield return (LimitNames.MaxTopicsPerSubscription, MaxTopicsPerSubscription);
        yield return (LimitNames.MaxFilterEntries, MaxFilterEntries);
        yield return (LimitNames.MaxIdLength, MaxIdLength);
        yield return (LimitNames.MaxStringLength, MaxStringLength);
        yield return (LimitNames.ClientMessagesPerSecond, ClientMessagesPerSecond);
        yield return (LimitNames.ClientMessageBurst, ClientMessageBurst);
        yield return (LimitNames.MaxReplayCount, MaxReplayCount);
        yield return (LimitNames.MaxReplayEvents, MaxReplayEvents);
        yield return (LimitNames.MaxTopics, MaxTopics);
        yield return (LimitNames.MaxAckIdsPerMessage, MaxAckIdsPerMessage);
    }
}

/// <summary>The limits' keys, as named in messages, <c>details.limit</c> and <c>gateway.limits.*</c>.</summary>
public static class LimitNames
{
    public const string MaxSubscriptionsPerStream = "max_subscriptions_per_stream";
    public const string MaxTopicsPerSubscription = "max_topics_per_subscription";
    public const string MaxFilterEntries = "max_filter_entries";
    public const string MaxIdLength = "max_id_length";
    public const string MaxStringLength = "max_string_length";
    public const string ClientMessagesPerSecond = "client_messages_per_second";
    public const string ClientMessageBurst = "client_message_burst";
    public const string MaxReplayCount = "max_replay_count";
    public const string MaxReplayEvents = "max_replay_events";
    public const string MaxTopics = "max_topics";
    public const string MaxAckIdsPerMessage = "max_ack_ids_per_message";
}
