using Marie.Events.Gateway.Configuration;

namespace Marie.Events.Gateway.Toast;

/// <summary>The gRPC toast handler's settings, from <c>toast.grpc.queue.*</c> and <c>toast.grpc.retry.*</c>.</summary>
/// <param name="MaxSize">Events queued (accepted, not yet filed or given up) at most.</param>
/// <param name="DropIfFull">True: a full queue drops the event at once; false: the publisher waits for room.</param>
/// <param name="EnqueueTimeout">How long a publisher waits for room; <see cref="TimeSpan.Zero"/> = as long as the
/// caller's deadline allows.</param>
/// <param name="BackoffBase">Delay before the first retry; doubled for each further retry.</param>
/// <param name="BackoffMax">Longest delay between retries.</param>
/// <param name="MaxAttempts">Publish attempts in all before giving up; 0 = never give up.</param>
/// <param name="DrainTimeout">How long a stopping gateway gives the queue to reach the broker.</param>
internal sealed record GrpcToastSettings(
    int MaxSize,
    bool DropIfFull,
    TimeSpan EnqueueTimeout,
    TimeSpan BackoffBase,
    TimeSpan BackoffMax,
    int MaxAttempts,
    TimeSpan DrainTimeout)
{
    /// <summary><c>toast.grpc.queue.drain_timeout_s</c> default: well inside the host's own 10-second stop
    /// budget.</summary>
    public const double DefaultDrainTimeoutSeconds = 5.0;

    /// <summary>The defaults of <c>toast.grpc.queue.*</c> and <c>toast.grpc.retry.*</c>: Marie-AI's for its keys,
    /// ours for the keys this gateway adds.</summary>
    public static GrpcToastSettings Default { get; } = From(new QueueOptions(), new RetryOptions());

    /// <summary>From validated options.</summary>
    public static GrpcToastSettings From(QueueOptions queue, RetryOptions retry) => new(
        queue.MaxSize,
        queue.DropIfFull,
        TimeSpan.FromSeconds(queue.EnqueueTimeoutSeconds),
        TimeSpan.FromSeconds(retry.BackoffBaseSeconds),
        TimeSpan.FromSeconds(retry.BackoffMaxSeconds),
        retry.MaxAttempts,
        TimeSpan.FromSeconds(queue.DrainTimeoutSeconds));

    /// <summary>The delay after failed attempt <paramref name="attempt"/> (1-based): base × 2^(attempt − 1),
    /// at most <see cref="BackoffMax"/>.</summary>
    public TimeSpan Backoff(int attempt)
    {
        // 2^62 seconds is far past any backoff_max_s: the cap keeps the arithmetic finite.
        const int MaxDoublings = 62;
        var seconds = BackoffBase.TotalSeconds * Math.Pow(2, Math.Min(attempt - 1, MaxDoublings));
        return seconds >= BackoffMax.TotalSeconds ? BackoffMax : TimeSpan.FromSeconds(seconds);
    }
}
