namespace Marie.Events.Broker.DeadLetters;

/// <summary>A dead letter a replay did not send (it stays a dead letter).</summary>
/// <param name="Id">The dead letter's id.</param>
/// <param name="Code">One of the constants below.</param>
/// <param name="Message">What to tell the operator.</param>
public sealed record DeadLetterReplayFailure(string Id, string Code, string Message)
{
    /// <summary>The stream that held the subscription has ended, or the subscription was closed: a plain
    /// subscription lives and dies with its stream, so there is nothing to replay to.</summary>
    public const string SubscriptionGone = "subscription_gone";

    /// <summary>The subscription no longer covers the event's topic (a <c>"*"</c> subscription whose key lost it).
    /// </summary>
    public const string TopicGone = "topic_gone";

    /// <summary>The subscription has <c>max_in_flight</c> events unacknowledged: replay again once it has room.
    /// </summary>
    public const string SubscriptionBusy = "subscription_busy";

    /// <summary>The subscription has the same event in flight already.</summary>
    public const string AlreadyInFlight = "already_in_flight";
}

/// <summary>What a replay did (or, on a dry run, would do).</summary>
/// <param name="Matched">Dead letters matching the query.</param>
/// <param name="Selected">Of those, the ones attempted: at most the call's maximum.</param>
/// <param name="Replayed">Sent again (0 on a dry run).</param>
/// <param name="Failures">Not sent, each with its reason.</param>
/// <param name="DryRun">Nothing was sent.</param>
public sealed record DeadLetterReplayResult(
    int Matched,
    int Selected,
    int Replayed,
    IReadOnlyList<DeadLetterReplayFailure> Failures,
    bool DryRun);
