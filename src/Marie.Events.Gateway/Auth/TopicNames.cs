using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Auth;

/// <summary>Why a client message was refused before the broker saw it.</summary>
/// <param name="SubscriptionId">The message's subscription id (echoed in the error).</param>
/// <param name="Field">The field that held another key.</param>
internal readonly record struct TopicRefusal(string SubscriptionId, string Field);

/// <summary>
/// Topics are key names, never keys. A client may name its own raw key as a topic (Marie-AI's clients do): it is
/// read as the key's name. A topic that has the form of an API key and is not the caller's own key is refused, and
/// the error does not repeat it.
/// </summary>
internal static class TopicNames
{
    /// <summary>The error text for a topic holding another key (the key is not repeated).</summary>
    public const string ForeignKeyMessage = "a topic holds an API key that is not this stream's own: name topics by " +
        "their key's name";

    /// <summary><paramref name="topic"/> as the broker should see it: the caller's name for its own raw key, the
    /// topic itself when it is not key-shaped, null when it is another key.</summary>
    public static string? ForCaller(string topic, ApiKeyIdentity caller)
    {
        if (!ApiKeyFormat.IsWellFormed(topic))
        {
            return topic;
        }

        return caller.SameKey(ApiKeyHash.Of(topic)) ? caller.Name : null;
    }

    /// <summary>Rewrites the topics of <paramref name="message"/> in place; returns a refusal when one holds
    /// another key (the message must then not reach the broker).</summary>
    public static TopicRefusal? Rewrite(ClientMessage message, ApiKeyIdentity caller)
    {
        switch (message.MessageCase)
        {
            case ClientMessage.MessageOneofCase.Subscribe:
                return Rewrite(message.Subscribe, caller);
            case ClientMessage.MessageOneofCase.Ack
                when message.Ack.AckModeCase == AckMessage.AckModeOneofCase.Cumulative:
                var cumulative = message.Ack.Cumulative;
                if (ForCaller(cumulative.Topic, caller) is not { } topic)
                {
                    return new TopicRefusal(message.Ack.SubscriptionId, "cumulative.topic");
                }

                cumulative.Topic = topic;
                return null;
            default:
                return null;
        }
    }

    private static TopicRefusal? Rewrite(SubscribeRequest request, ApiKeyIdentity caller)
    {
        for (var i = 0; i < request.Topics.Count; i++)
        {
            if (ForCaller(request.Topics[i], caller) is not { } topic)
            {
                return new TopicRefusal(request.SubscriptionId, "topics");
            }

            request.Topics[i] = topic;
        }

        return RewriteKeys(request.ResumeFrom, caller, request.SubscriptionId, "resume_from")
            ?? RewriteKeys(request.TopicEpochs, caller, request.SubscriptionId, "topic_epochs");
    }

    private static TopicRefusal? RewriteKeys<T>(
        Google.Protobuf.Collections.MapField<string, T> map,
        ApiKeyIdentity caller,
        string subscriptionId,
        string field)
    {
        foreach (var key in map.Keys.Where(ApiKeyFormat.IsWellFormed).ToArray())
        {
            if (ForCaller(key, caller) is not { } topic)
            {
                return new TopicRefusal(subscriptionId, field);
            }

            var value = map[key];
            map.Remove(key);
            map[topic] = value;
        }

        return null;
    }
}
