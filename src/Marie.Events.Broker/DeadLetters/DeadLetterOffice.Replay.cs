using Marie.Events.Broker.Limits;

namespace Marie.Events.Broker.DeadLetters;

/// <summary>The office's replay refusals (the same with either kind of store) and its pace per key.</summary>
internal sealed partial class DeadLetterOffice
{
    private static DeadLetterReplayFailure PlainGone(DeadLetter letter) => new(letter.Id,
        DeadLetterReplayFailure.SubscriptionGone,
        $"subscription '{letter.Subscription.SubscriptionId}' of stream {letter.Subscription.ConnectionId} is not "
        + "open on this gateway: a plain subscription ends with its stream, and a replay goes to no other (in "
        + "cluster mode, replay on the gateway that holds the stream)");

    private static DeadLetterReplayFailure PlainFailure(DeadLetter letter, string code) => new(letter.Id, code,
        code switch
        {
            DeadLetterReplayFailure.SubscriptionBusy =>
                "the subscription has max_in_flight events unacknowledged: replay again later",
            DeadLetterReplayFailure.AlreadyInFlight => "the subscription has this event in flight already",
            DeadLetterReplayFailure.TopicGone => $"the subscription no longer covers topic '{letter.Topic}'",
            _ => $"subscription '{letter.Subscription.SubscriptionId}' was closed",
        });

    private static DeadLetterReplayFailure DurableFailure(DeadLetter letter, string code)
    {
        var name = letter.Subscription.DurableName!;
        return new DeadLetterReplayFailure(letter.Id, code, code switch
        {
            DeadLetterReplayFailure.AlreadyInFlight => "the durable subscription has this event pending already",
            DeadLetterReplayFailure.TopicGone => $"durable subscription '{name}' has no position on topic "
                + $"'{letter.Topic}'",
            _ => $"durable subscription '{name}' does not exist on this gateway (deleted, removed after its "
                + "inactive TTL, or never held here)",
        });
    }

    /// <summary>One key's replays: one at a time, at most <c>replay_per_second</c> dead letters a second.</summary>
    private sealed class ReplayPacer(TimeProvider time, DeadLetterOptions options)
    {
        private readonly TokenBucket _bucket = new(time, options.ReplayPerSecond, options.ReplayPerSecond);

        public SemaphoreSlim Turn { get; } = new(1, 1);

        /// <summary>Waits for a token (called holding <see cref="Turn"/>, so the bucket has one user).</summary>
        public async Task WaitForTokenAsync(CancellationToken cancellationToken)
        {
            while (!_bucket.TryTake())
            {
                var wait = TimeSpan.FromMilliseconds(_bucket.MillisecondsUntilNext());
                await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
