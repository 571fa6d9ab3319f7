using Marie.Events.Broker;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Toast;

/// <summary>A toast handler: something the <see cref="ToastRegistry"/> hands published events to.</summary>
internal interface IToastHandler
{
    /// <summary>A short name for logs and stats (<c>grpc</c>, <c>native</c>).</summary>
    string Name { get; }

    /// <summary>Takes the event over. Completes when the handler has accepted it (queued it); a handler that
    /// refuses it throws <see cref="ToastRejectedException"/>. The handler must not change the event.</summary>
    ValueTask<ToastReceipt> HandleAsync(EventData evt, CancellationToken cancellationToken);
}

/// <summary>What a handler gives back for an accepted event.</summary>
/// <param name="Filed">For the handler that files events with the broker: completes with where the event was
/// filed, or fails with <see cref="ToastRejectedException"/> (given up, gateway stopped). Null for other
/// handlers.</param>
internal readonly record struct ToastReceipt(Task<PublishResult>? Filed)
{
    /// <summary>Accepted; nothing more to wait for.</summary>
    public static ToastReceipt Accepted => default;
}

/// <summary>Why a handler refused an event or could not deliver it.</summary>
internal enum ToastRejection
{
    /// <summary>The queue stayed full for <c>toast.grpc.queue.enqueue_timeout_s</c>.</summary>
    QueueFull,

    /// <summary>The queue was full and <c>toast.grpc.queue.drop_if_full</c> is true: dropped.</summary>
    Dropped,

    /// <summary>Every publish attempt failed (<c>toast.grpc.retry.max_attempts</c>).</summary>
    GaveUp,

    /// <summary>The broker refused the event as invalid.</summary>
    Invalid,

    /// <summary>The broker refused the event for one of its limits (e.g. <c>max_topics</c>): not retried.</summary>
    LimitExceeded,

    /// <summary>The broker refused the event: the publisher may not file it under its topic. Not retried.</summary>
    Denied,

    /// <summary>The gateway is stopping (or stopped before the event reached the broker).</summary>
    Stopping,
}

/// <summary>A handler refused an event, or gave up on it; the message is meant for the caller.</summary>
internal sealed class ToastRejectedException : Exception
{
    public ToastRejectedException(ToastRejection reason, string message)
        : base(message) => Reason = reason;

    /// <summary>Why.</summary>
    public ToastRejection Reason { get; }
}
