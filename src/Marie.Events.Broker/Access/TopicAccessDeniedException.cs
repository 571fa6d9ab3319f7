namespace Marie.Events.Broker.Access;

/// <summary>
/// A call named a topic its caller may not see. The message names the topic as the caller gave it and is the same
/// whether the topic exists or not, so it reveals nothing about other tenants.
/// </summary>
public sealed class TopicAccessDeniedException : Exception
{
    public TopicAccessDeniedException()
    {
    }

    public TopicAccessDeniedException(string message)
        : base(message)
    {
    }

    public TopicAccessDeniedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The denied topic.</summary>
    public string Topic { get; init; } = "";

    internal static TopicAccessDeniedException For(string topic) =>
        new(DeniedMessage(topic)) { Topic = topic };

    /// <summary>The one message for a topic a key may not see (whether or not it exists).</summary>
    internal static string DeniedMessage(string topic) => $"topic '{topic}' is not visible to this key";
}
