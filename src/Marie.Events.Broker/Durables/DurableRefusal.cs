namespace Marie.Events.Broker.Durables;

/// <summary>What <see cref="DurableRegistry.EnterAsync"/> answers: the lease to pass to
/// <see cref="DurableRegistry.Entered"/>, or why the durable may not be held here.</summary>
internal readonly record struct DurableEntry(DurableLeaseHold? Hold, DurableRefusal? Refusal);

/// <summary>Why a durable may not be held on this gateway: the message, <c>details.reason</c> and the holder.
/// </summary>
internal sealed record DurableRefusal(string Message, string Reason, string Holder)
{
    /// <summary>Another gateway holds its lease.</summary>
    public const string HeldElsewhereReason = "held_by_another_gateway";

    /// <summary>The lease store (Redis) did not answer.</summary>
    public const string UnavailableReason = "lease_unavailable";

    /// <summary>This gateway lost the lease of a durable its streams held.</summary>
    public const string LostReason = "lease_lost";
}
