using Marie.Events.Broker.Subscriptions;

namespace Marie.Events.Broker.Topics;

/// <summary>
/// The subscriptions attached to a topic, immutable (a change makes a new set). Subscriptions that filter on job
/// ids are indexed by job id, so an event is offered only to the subscriptions that can match it: its cost grows
/// with the subscriptions it matches, not with all of them.
/// </summary>
internal sealed class SubscriberSet
{
    public static readonly SubscriberSet Empty = new(
        [],
        new Dictionary<string, SubscriptionTopic[]>(StringComparer.Ordinal));

    private readonly Dictionary<string, SubscriptionTopic[]> _byJob;

    private SubscriberSet(SubscriptionTopic[] unindexed, Dictionary<string, SubscriptionTopic[]> byJob)
    {
        Unindexed = unindexed;
        _byJob = byJob;
    }

    /// <summary>Subscriptions without a job-id filter: offered every event.</summary>
    public SubscriptionTopic[] Unindexed { get; }

    /// <summary>Subscriptions whose job-id filter names this job id.</summary>
    public SubscriptionTopic[] ForJob(string jobId) =>
        _byJob.Count != 0 && _byJob.TryGetValue(jobId, out var list) ? list : [];

    /// <summary>Every attached position, each once.</summary>
    public IEnumerable<SubscriptionTopic> All() => Unindexed.Concat(_byJob.Values.SelectMany(list => list)).Distinct();

    /// <summary>Attaches <paramref name="position"/> under the job ids it is indexed by (none: unindexed).</summary>
    public SubscriberSet Add(SubscriptionTopic position, IReadOnlyCollection<string>? jobIds)
    {
        if (jobIds is null || jobIds.Count == 0)
        {
            return new SubscriberSet([.. Unindexed, position], _byJob);
        }

        var byJob = new Dictionary<string, SubscriptionTopic[]>(_byJob, StringComparer.Ordinal);
        foreach (var jobId in jobIds)
        {
            byJob[jobId] = byJob.TryGetValue(jobId, out var list) ? [.. list, position] : [position];
        }

        return new SubscriberSet(Unindexed, byJob);
    }

    /// <summary>Detaches <paramref name="position"/> from where <paramref name="jobIds"/> put it.</summary>
    public SubscriberSet Remove(SubscriptionTopic position, IReadOnlyCollection<string>? jobIds)
    {
        if (jobIds is null || jobIds.Count == 0)
        {
            return new SubscriberSet(Without(Unindexed, position), _byJob);
        }

        var byJob = new Dictionary<string, SubscriptionTopic[]>(_byJob, StringComparer.Ordinal);
        foreach (var jobId in jobIds)
        {
            if (byJob.TryGetValue(jobId, out var list))
            {
                var rest = Without(list, position);
                if (rest.Length == 0)
                {
                    byJob.Remove(jobId);
                }
                else
                {
                    byJob[jobId] = rest;
                }
            }
        }

        return new SubscriberSet(Unindexed, byJob);
    }

    private static SubscriptionTopic[] Without(SubscriptionTopic[] list, SubscriptionTopic position)
    {
        var index = Array.IndexOf(list, position);
        if (index < 0)
        {
            return list;
        }

        var next = new SubscriptionTopic[list.Length - 1];
        Array.Copy(list, 0, next, 0, index);
        Array.Copy(list, index + 1, next, index, list.Length - index - 1);
        return next;
    }
}
