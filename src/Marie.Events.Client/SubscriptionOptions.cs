using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>How a subscription's events are acknowledged.</summary>
public enum AckMode
{
    /// <summary>The client acknowledges each event once the consumer has processed it: when the consumer asks for
    /// the next event (<c>await foreach</c>), or when the handler returns. Acks are batched.</summary>
    Auto = 0,

    /// <summary>The consumer acknowledges with <see cref="ReceivedEvent.AckAsync"/>. An event not acknowledged within
    /// the gateway's <c>ack_timeout_s</c> is redelivered and handed to the consumer again.</summary>
    Manual = 1,
}

/// <summary>What a subscription wants: its topics, event names, filters, starting point and ack mode.</summary>
public sealed class SubscriptionOptions
{
    /// <summary>Subscription id, unique among the client's open subscriptions. Default: <c>null</c>, a new random
    /// id.</summary>
    public string? SubscriptionId { get; set; }

    /// <summary>Topics (the publishers' <c>api_key</c>) and/or <c>"*"</c> for every topic, present and future.
    /// At least one.</summary>
    public IList<string> Topics { get; } = [];

    /// <summary>Event names: exact (<c>extract.completed</c>), prefix (<c>extract.*</c>) or <c>*</c>. Empty:
    /// all.</summary>
    public IList<string> Events { get; } = [];

    /// <summary>Server-side filters on source, job id and payload metadata. Replace them later with
    /// <see cref="EventSubscription.UpdateFilterAsync"/>.</summary>
    public SubscriptionFilter Filter { get; set; } = new();

    /// <summary>How events are acknowledged. Default: <see cref="AckMode.Auto"/>.</summary>
    public AckMode AckMode { get; set; } = AckMode.Auto;

    /// <summary>
    /// Where to start, per topic: replay the events after this sequence number (the last one you processed earlier).
    /// Topics not named start live. Used for the first subscribe only: after a reconnect the client resumes from what
    /// it has processed itself. Default: empty.
    /// </summary>
    public IDictionary<string, long> ResumeFrom { get; } = new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>
    /// Where to start on every topic <see cref="ResumeFrom"/> does not name (the wire's <c>last_sequence_num</c>):
    /// replay the events after this sequence number. Meant for a <c>"*"</c> subscription, whose topics are not known
    /// in advance; on a subscription of several topics, a topic whose head is below it starts live. Used for the first
    /// subscribe only. Default: <c>null</c>.
    /// </summary>
    public long? LastSequenceNum { get; set; }

    /// <summary>The epoch each <see cref="ResumeFrom"/> point belongs to (as reported by
    /// <see cref="EventSubscription.GetResumePoints"/>): a topic whose log has another epoch now is replayed from the
    /// start of its ring, with an <see cref="EpochChangedException"/> notice. Default: empty.</summary>
    public IDictionary<string, string> TopicEpochs { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>When set, replay at most this many of the most recent matching events per topic (alone: the last N
    /// events). Used for the first subscribe only. Default: <c>null</c>.</summary>
    public int? ReplayCount { get; set; }

    /// <summary>Events the client buffers for the consumer. When the buffer is full the client stops reading the
    /// stream (every subscription of the client waits), so keep the consumer moving or use several clients.
    /// Default: 1,000.</summary>
    public int BufferCapacity { get; set; } = 1000;

    /// <summary>In <see cref="AckMode.Auto"/>, how many times one event may be handed to a consumer that fails on it
    /// (a handler that throws, an enumeration left while holding it) before the client gives up on it: it then
    /// acknowledges the event so that the gateway stops redelivering it, logs an error and reports an
    /// <see cref="EventProcessingFailedException"/>. Default: 5 (the gateway's default
    /// <c>max_redelivery_attempts</c>).</summary>
    public int MaxProcessingAttempts { get; set; } = 5;

    /// <summary>The wait after each delivery before the gateway delivers an unsettled event again, like JetStream's
    /// BackOff: entry i after delivery i + 1, the last repeating (the wire's <c>redelivery_backoff_ms</c>). Each entry
    /// is whole milliseconds, at least 1 ms and at most the gateway's <c>max_ack_extension_s</c>. Empty: the
    /// gateway's <c>ack_timeout_s</c> each time. Default: empty.</summary>
    public IList<TimeSpan> RedeliveryBackoff { get; } = [];

    /// <summary>Deliveries of one event in all before the gateway dead-letters it (the wire's
    /// <c>max_redelivery_attempts</c>); at most the gateway's own limit, which it uses when this is larger or
    /// <c>null</c>. The effective value is in <see cref="EventSubscription.Limits"/>. Default: <c>null</c>.</summary>
    public int? MaxRedeliveryAttempts { get; set; }

    /// <summary>With a handler (<see cref="EventStreamClient.SubscribeAsync(SubscriptionOptions,
    /// Func{ReceivedEvent, CancellationToken, ValueTask}, CancellationToken)"/>), extend each event's ack deadline
    /// while its handler runs, shortly before the deadline passes, so that a slow handler's event is not redelivered
    /// (using up its attempts); it stops when the handler returns or settles the event, and after
    /// <see cref="MaxAutoExtension"/>. Needs a gateway that reports its limits
    /// (<see cref="EventSubscription.Limits"/>). Default: <c>true</c>.</summary>
    public bool AutoExtend { get; set; } = true;

    /// <summary>The longest time, counted from its arrival, that automatic extension keeps one event from being
    /// redelivered; after it, the gateway redelivers the event when its deadline passes (and dead-letters it after
    /// the last attempt). Default: 60 minutes (as Pub/Sub's lease management).</summary>
    public TimeSpan MaxAutoExtension { get; set; } = TimeSpan.FromMinutes(60);

    /// <summary>
    /// Makes this a durable subscription of that name (the wire's <c>durable_name</c>): the gateway keeps, for the
    /// client's key and this name, what was acknowledged and what was not, across streams, reconnects and processes
    /// (and, with the <c>file</c> or <c>redis</c> backend, gateway restarts). Subscribing again with the same name
    /// delivers exactly what is unacknowledged, then what was published since. The client sends no resume points
    /// of its own for it after the first subscribe; <see cref="ResumeFrom"/>, <see cref="LastSequenceNum"/> and
    /// <see cref="ReplayCount"/> apply only to topics the durable has no position on yet. Without
    /// <see cref="Group"/>, one stream at a time may hold it (another gets <c>ERROR_DURABLE_CONFLICT</c>). Names
    /// belong to the key: another key's same name is another subscription. Default: <c>null</c> (a plain
    /// subscription, which ends with its stream).
    /// </summary>
    public string? DurableName { get; set; }

    /// <summary>
    /// A consumer group (the wire's <c>group</c>): every subscription of the same key with the same
    /// <see cref="DurableName"/> and group shares one durable subscription, each event going to one of them;
    /// <c>max_in_flight</c> caps each member. Give all members the same topics and filters. Order per topic holds
    /// only within what one member receives. Needs <see cref="DurableName"/>. Default: <c>null</c>.
    /// </summary>
    public string? Group { get; set; }

    internal void Validate()
    {
        if (DurableName is { Length: 0 })
        {
            throw new ArgumentException(
                "SubscriptionOptions.DurableName must not be empty (leave it null for a plain subscription)");
        }

        if (Group is { Length: 0 })
        {
            throw new ArgumentException("SubscriptionOptions.Group must not be empty (leave it null for no group)");
        }

        if (Group is not null && DurableName is null)
        {
            throw new ArgumentException(
                "SubscriptionOptions.Group needs SubscriptionOptions.DurableName: a consumer group shares a durable "
                + "subscription");
        }

        if (Topics.Count == 0)
        {
            throw new ArgumentException("SubscriptionOptions.Topics needs at least one topic (or \"*\")");
        }

        if (Topics.Any(string.IsNullOrEmpty))
        {
            throw new ArgumentException("SubscriptionOptions.Topics must not contain an empty topic");
        }

        if (SubscriptionId is { Length: 0 })
        {
            throw new ArgumentException(
                "SubscriptionOptions.SubscriptionId must not be empty (leave it null for a random id)");
        }

        if (ReplayCount < 0)
        {
            throw new ArgumentException("SubscriptionOptions.ReplayCount must not be negative");
        }

        if (LastSequenceNum < 0)
        {
            throw new ArgumentException("SubscriptionOptions.LastSequenceNum must not be negative");
        }

        if (ResumeFrom.Values.Any(v => v < 0))
        {
            throw new ArgumentException("SubscriptionOptions.ResumeFrom values must not be negative");
        }

        if (BufferCapacity < 1)
        {
            throw new ArgumentException("SubscriptionOptions.BufferCapacity must be at least 1");
        }

        if (MaxProcessingAttempts < 1)
        {
            throw new ArgumentException("SubscriptionOptions.MaxProcessingAttempts must be at least 1");
        }

        if (RedeliveryBackoff.Any(w =>
                w < TimeSpan.FromMilliseconds(1) || w.Ticks % TimeSpan.TicksPerMillisecond != 0))
        {
            throw new ArgumentException(
                "SubscriptionOptions.RedeliveryBackoff entries must be whole milliseconds, at least 1 ms");
        }

        if (MaxRedeliveryAttempts < 1)
        {
            throw new ArgumentException(
                "SubscriptionOptions.MaxRedeliveryAttempts must be at least 1 (null: the gateway's)");
        }

        if (MaxAutoExtension <= TimeSpan.Zero)
        {
            throw new ArgumentException(
                "SubscriptionOptions.MaxAutoExtension must be positive (AutoExtend = false turns extension off)");
        }

        ArgumentNullException.ThrowIfNull(Filter, "SubscriptionOptions.Filter");
    }
}

/// <summary>Server-side filters of a subscription (the wire's <c>FilterConfig</c>); all must pass.</summary>
public sealed class SubscriptionFilter
{
    /// <summary>Non-empty: the event's <c>source</c> must match one entry (exact, or prefix when it ends with
    /// <c>*</c>).</summary>
    public IList<string> IncludeSources { get; } = [];

    /// <summary>The event's <c>source</c> must match no entry (same matching).</summary>
    public IList<string> ExcludeSources { get; } = [];

    /// <summary>Non-empty: the event's <c>jobid</c> must be one of these.</summary>
    public IList<string> JobIds { get; } = [];

    /// <summary>Every entry must match: the key is a dotted path into the event's <c>payload</c>
    /// (<c>doc.pages.0.kind</c>), the value the expected text (<c>3</c>, <c>2.5</c>, <c>true</c>, <c>null</c>, or a
    /// string).</summary>
    public IDictionary<string, string> MetadataMatch { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The wire form.</summary>
    internal FilterConfig ToProto()
    {
        var config = new FilterConfig();
        config.IncludeSources.AddRange(IncludeSources);
        config.ExcludeSources.AddRange(ExcludeSources);
        config.Jobids.AddRange(JobIds);
        config.MetadataMatch.Add(MetadataMatch);
        return config;
    }
}
