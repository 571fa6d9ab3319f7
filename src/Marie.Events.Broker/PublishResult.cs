namespace Marie.Events.Broker;

/// <summary>Where a published event was filed.</summary>
/// <param name="Id">The event's id (generated when the producer left it empty).</param>
/// <param name="Topic">The topic it was filed under.</param>
/// <param name="SequenceNum">Its sequence number within the topic (from 1).</param>
public readonly record struct PublishResult(string Id, string Topic, long SequenceNum);
