using System.Globalization;
using Marie.Events.Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Toast;

/// <summary>Validates the pipeline's additions to <c>toast.*</c> (the keys Marie-AI has are validated by
/// <see cref="ToastOptionsValidator"/>); every message names the full key.</summary>
internal sealed class ToastPipelineOptionsValidator : IValidateOptions<ToastOptions>
{
    public ValidateOptionsResult Validate(string? name, ToastOptions options)
    {
        var errors = new List<string>();
        var queue = options.Grpc.Queue;
        CheckSeconds(
            errors,
            "toast.grpc.queue.enqueue_timeout_s",
            queue.EnqueueTimeoutSeconds,
            "0 (as long as the caller's deadline allows) or more");
        CheckSeconds(errors, "toast.grpc.queue.drain_timeout_s", queue.DrainTimeoutSeconds, "0 or more");

        var native = options.Native;
        if (native.MaxBytes < 1)
        {
            errors.Add(Invariant($"toast.native.max_bytes must be at least 1 (got {native.MaxBytes})"));
        }

        if (native.MaxFiles < 0)
        {
            errors.Add(Invariant($"toast.native.max_files must be 0 or more (got {native.MaxFiles})"));
        }

        if (native.QueueMaxSize < 1)
        {
            errors.Add(Invariant($"toast.native.queue_maxsize must be at least 1 (got {native.QueueMaxSize})"));
        }

        if (native.Events is { } events)
        {
            for (var i = 0; i < events.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(events[i]))
                {
                    errors.Add(Invariant($"toast.native.events[{i}] must not be empty (use \"*\" for every event)"));
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>A duration in seconds: finite, not negative, at most a day (a TimeSpan holds far more, but a
    /// longer wait is a typo).</summary>
    private static void CheckSeconds(List<string> errors, string key, double value, string expected)
    {
        const double MaxSeconds = 86_400;
        if (!double.IsFinite(value) || value < 0 || value > MaxSeconds)
        {
            errors.Add(Invariant($"{key} must be {expected}, at most {MaxSeconds} (got {value})"));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
