namespace Marie.Events.Broker.DeadLetters;

/// <summary>Which of a key's dead letters a call means; every part given must match, none given = all.</summary>
/// <param name="Topic">The event's topic.</param>
/// <param name="Subscription">A subscription id or a durable name
/// (<see cref="DeadLetterSubscription.ListedAs"/>).</param>
/// <param name="Reason">The reason.</param>
/// <param name="Ids">Dead-letter ids.</param>
public sealed record DeadLetterQuery(
    string? Topic = null,
    string? Subscription = null,
    DeadLetterReason? Reason = null,
    IReadOnlySet<string>? Ids = null)
{
    /// <summary>Every dead letter.</summary>
    public static DeadLetterQuery All { get; } = new();

    /// <summary>Whether <paramref name="letter"/> matches.</summary>
    public bool Matches(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        return (string.IsNullOrEmpty(Topic) || string.Equals(letter.Topic, Topic, StringComparison.Ordinal))
            && (string.IsNullOrEmpty(Subscription)
                || string.Equals(letter.Subscription.ListedAs, Subscription, StringComparison.Ordinal))
            && (Reason is null || letter.Last.Reason == Reason)
            && (Ids is null || Ids.Count == 0 || Ids.Contains(letter.Id));
    }
}

/// <summary>One page of a key's dead letters, oldest first.</summary>
/// <param name="Items">The page.</param>
/// <param name="NextPageToken">The next page's token; null on the last page.</param>
/// <param name="Total">Dead letters matching the query in all.</param>
public sealed record DeadLetterPage(IReadOnlyList<DeadLetter> Items, string? NextPageToken, int Total);

/// <summary>The dead-letter figures of the whole broker (every key).</summary>
/// <param name="Depth">Dead letters held now.</param>
/// <param name="OldestAge">Age of the oldest one held (zero when none).</param>
/// <param name="MaxAttempts">Events dead-lettered for <c>max_attempts</c> since start.</param>
/// <param name="Terminated">Events dead-lettered for <c>terminated</c> since start.</param>
/// <param name="Replayed">Dead letters replayed since start.</param>
/// <param name="Purged">Dead letters purged since start.</param>
/// <param name="Evicted">Dead letters removed by retention (<c>max_count</c>, <c>max_age_s</c>) since start.</param>
public readonly record struct DeadLetterStats(
    long Depth,
    TimeSpan OldestAge,
    long MaxAttempts,
    long Terminated,
    long Replayed,
    long Purged,
    long Evicted);
