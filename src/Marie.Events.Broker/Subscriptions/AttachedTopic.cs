namespace Marie.Events.Broker.Subscriptions;

/// <summary>Where a subscription starts on one topic, as its confirm reports it.</summary>
internal readonly record struct AttachedTopic(string Topic, string Epoch, long Head, long ReplayFrom, TopicStart Start);
