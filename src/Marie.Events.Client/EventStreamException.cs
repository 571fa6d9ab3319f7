using System.Globalization;
using Grpc.Core;
using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>
/// An error from the gateway or the client: an <c>ErrorMessage</c> on the stream (<see cref="Code"/>), or a call that
/// ended with a gRPC status (<see cref="Status"/>). Notices that leave the stream usable (events lost, epoch changed,
/// an invalid ack) are reported through <see cref="EventStreamClient.ErrorReceived"/> and
/// <see cref="EventSubscription.ErrorReceived"/>; fatal ones end the subscriptions with this exception.
/// </summary>
public class EventStreamException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    public EventStreamException()
    {
    }

    /// <summary>Creates an exception with a message.</summary>
    public EventStreamException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public EventStreamException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception from the gateway's <c>ErrorMessage</c>.</summary>
    public EventStreamException(ErrorMessage error)
        : base(Describe(error))
    {
        ArgumentNullException.ThrowIfNull(error);
        Code = error.Code;
        SubscriptionId = error.SubscriptionId.Length > 0 ? error.SubscriptionId : null;
        Details = new Dictionary<string, string>(error.Details, StringComparer.Ordinal);
    }

    /// <summary>The <c>ErrorMessage</c> code, when the error came as one.</summary>
    public ErrorCode? Code { get; }

    /// <summary>The gRPC status the call ended with, when it did.</summary>
    public StatusCode? Status { get; init; }

    /// <summary>The subscription the error is about, when it names one.</summary>
    public string? SubscriptionId { get; }

    /// <summary>The error's details (e.g. <c>topic</c>, <c>first_missed</c>); empty when none.</summary>
    public IReadOnlyDictionary<string, string> Details { get; } = new Dictionary<string, string>();

    /// <summary>The typed exception for an <c>ErrorMessage</c>.</summary>
    public static EventStreamException FromError(ErrorMessage error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return error.Code switch
        {
            ErrorCode.ErrorEventsLost => new EventsLostException(error),
            ErrorCode.ErrorEpochChanged => new EpochChangedException(error),
            ErrorCode.ErrorRateLimited => new RateLimitedException(error),
            ErrorCode.ErrorAuthenticationFailed => new EventStreamAuthenticationException(error),
            _ => new EventStreamException(error),
        };
    }

    /// <summary>The typed exception for a call that ended with <paramref name="error"/>.</summary>
    public static EventStreamException FromRpc(RpcException error, string? context = null)
    {
        ArgumentNullException.ThrowIfNull(error);
        var message = context is null
            ? $"{error.StatusCode}: {error.Status.Detail}"
            : $"{context}: {error.StatusCode}: {error.Status.Detail}";
        return error.StatusCode switch
        {
            StatusCode.Unauthenticated or StatusCode.PermissionDenied =>
                new EventStreamAuthenticationException(message, error) { Status = error.StatusCode },
            StatusCode.ResourceExhausted => new RateLimitedException(message, error) { Status = error.StatusCode },
            _ => new EventStreamException(message, error) { Status = error.StatusCode },
        };
    }

    private protected static long DetailNumber(ErrorMessage error, string key) =>
        error.Details.TryGetValue(key, out var text)
            && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : 0;

    private protected static string DetailText(ErrorMessage error, string key) =>
        error.Details.TryGetValue(key, out var text) ? text : "";

    private static string Describe(ErrorMessage? error)
    {
        if (error is null)
        {
            return "gateway error";
        }

        var subscription = error.SubscriptionId.Length > 0 ? $" (subscription {error.SubscriptionId})" : "";
        return $"{error.Code}{subscription}: {error.Message}";
    }
}

/// <summary>
/// Events a subscription should have received were overwritten in the topic's ring before they could be delivered:
/// a gap, reported, never silent (<c>ERROR_EVENTS_LOST</c>). The subscription goes on with the oldest event still held.
/// </summary>
public sealed class EventsLostException : EventStreamException
{
    /// <summary>Creates it from the gateway's <c>ErrorMessage</c>.</summary>
    public EventsLostException(ErrorMessage error)
        : base(error)
    {
        Topic = DetailText(error, "topic");
        FirstMissed = DetailNumber(error, "first_missed");
        LastMissed = DetailNumber(error, "last_missed");
    }

    /// <summary>The topic of the gap.</summary>
    public string Topic { get; }

    /// <summary>First missed sequence number (inclusive).</summary>
    public long FirstMissed { get; }

    /// <summary>Last missed sequence number (inclusive).</summary>
    public long LastMissed { get; }
}

/// <summary>
/// The topic's log has another epoch than the client's resume point (the gateway restarted with an empty ring):
/// the gateway replays the topic from the start of its new ring, and the client resets its de-duplication state for
/// that topic (<c>ERROR_EPOCH_CHANGED</c>). Events of the old epoch that were never delivered are gone.
/// </summary>
public sealed class EpochChangedException : EventStreamException
{
    /// <summary>Creates it from the gateway's <c>ErrorMessage</c>.</summary>
    public EpochChangedException(ErrorMessage error)
        : base(error)
    {
        Topic = DetailText(error, "topic");
        ExpectedEpoch = DetailText(error, "expected_epoch");
        CurrentEpoch = DetailText(error, "current_epoch");
    }

    /// <summary>The topic.</summary>
    public string Topic { get; }

    /// <summary>The epoch the client resumed from (empty when it named none).</summary>
    public string ExpectedEpoch { get; }

    /// <summary>The topic's epoch now.</summary>
    public string CurrentEpoch { get; }
}

/// <summary>The key was refused (<c>UNAUTHENTICATED</c>, or <c>PERMISSION_DENIED</c> for a publish without the
/// role). Fatal: the client does not retry, and every subscription ends with this exception.</summary>
public sealed class EventStreamAuthenticationException : EventStreamException
{
    /// <summary>Creates it with a message and its cause.</summary>
    public EventStreamAuthenticationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates it from the gateway's <c>ErrorMessage</c>.</summary>
    public EventStreamAuthenticationException(ErrorMessage error)
        : base(error)
    {
    }
}

/// <summary>The gateway is limiting this client (<c>ERROR_RATE_LIMITED</c> on the stream, or a call ended with
/// <c>RESOURCE_EXHAUSTED</c>). On the stream it is a notice; a stream ended by it is reconnected with
/// backoff.</summary>
public sealed class RateLimitedException : EventStreamException
{
    /// <summary>Creates it with a message and its cause.</summary>
    public RateLimitedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates it from the gateway's <c>ErrorMessage</c>.</summary>
    public RateLimitedException(ErrorMessage error)
        : base(error)
    {
    }
}

/// <summary>The consumer failed on an event <see cref="SubscriptionOptions.MaxProcessingAttempts"/> times: the client
/// acknowledged it to stop its redelivery and reports it here (with the last failure as the inner exception).</summary>
public sealed class EventProcessingFailedException : EventStreamException
{
    /// <summary>Creates it.</summary>
    public EventProcessingFailedException(
        string subscriptionId,
        string topic,
        long sequenceNum,
        int attempts,
        Exception? lastFailure)
        : base(
            string.Create(
                CultureInfo.InvariantCulture,
                $"Event {topic}#{sequenceNum} of subscription {subscriptionId} given up after "
                    + $"{attempts} failed attempts"),
            lastFailure)
    {
        FailedSubscriptionId = subscriptionId;
        Topic = topic;
        SequenceNum = sequenceNum;
        Attempts = attempts;
    }

    /// <summary>The subscription.</summary>
    public string FailedSubscriptionId { get; }

    /// <summary>The event's topic.</summary>
    public string Topic { get; }

    /// <summary>The event's sequence number.</summary>
    public long SequenceNum { get; }

    /// <summary>How many times it was handed to the consumer.</summary>
    public int Attempts { get; }
}

/// <summary>A bulk publish failed part-way: the first <see cref="Published"/> events were filed (their receipts are in
/// <see cref="Receipts"/>); the rest were not, or not knowingly.</summary>
public sealed class PublishException : EventStreamException
{
    /// <summary>Creates it.</summary>
    public PublishException(string message, IReadOnlyList<PublishResponse> receipts, Exception? innerException)
        : base(message, innerException)
    {
        Receipts = receipts;
        Status = (innerException as RpcException)?.StatusCode ?? (innerException as EventStreamException)?.Status;
    }

    /// <summary>Receipts of the events filed before the failure, in order.</summary>
    public IReadOnlyList<PublishResponse> Receipts { get; }

    /// <summary>How many events were filed before the failure.</summary>
    public int Published => Receipts.Count;
}
