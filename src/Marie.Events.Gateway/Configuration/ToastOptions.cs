using Marie.Events.Broker;
using Microsoft.Extensions.Configuration;

namespace Marie.Events.Gateway.Configuration;

/// <summary>The <c>toast.*</c> section: Marie-AI's keys, plus the ones marked as additions.</summary>
internal sealed class ToastOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "toast";

    /// <summary><c>toast.native.*</c>: the native handler (an append-only JSON-lines record of every event).</summary>
    [ConfigurationKeyName("native")]
    public ToastNativeOptions Native { get; set; } = new();

    /// <summary><c>toast.grpc.*</c>: the gRPC event stream.</summary>
    [ConfigurationKeyName("grpc")]
    public ToastGrpcOptions Grpc { get; set; } = new();
}

/// <summary><c>toast.native.*</c>.</summary>
internal sealed class ToastNativeOptions
{
    [ConfigurationKeyName("enabled")]
    public bool Enabled { get; set; } = true;

    /// <summary>Where the native handler appends events; null (unset) =
    /// <c>&lt;gateway.state_dir&gt;/native-events.jsonl</c>.</summary>
    [ConfigurationKeyName("path")]
    public string? Path { get; set; }

    /// <summary>Rotation size, queue size and event prefixes (see <see cref="Toast.NativeToastSettings"/>).</summary>
    [ConfigurationKeyName("max_bytes")]
    public long MaxBytes { get; set; } = Toast.NativeToastSettings.DefaultMaxBytes;

    [ConfigurationKeyName("max_files")]
    public int MaxFiles { get; set; } = Toast.NativeToastSettings.DefaultMaxFiles;

    [ConfigurationKeyName("queue_maxsize")]
    public int QueueMaxSize { get; set; } = Toast.NativeToastSettings.DefaultQueueMaxSize;

    /// <summary>Event-name prefixes recorded (<c>*</c> = all). Null (unset) = <c>["*"]</c>.</summary>
    [ConfigurationKeyName("events")]
    public List<string>? Events { get; set; }
}

/// <summary><c>toast.grpc.*</c>.</summary>
internal sealed class ToastGrpcOptions
{
    /// <summary>False: EventStreamService and EventPublisherService are not served.</summary>
    [ConfigurationKeyName("enabled")]
    public bool Enabled { get; set; } = true;

    [ConfigurationKeyName("broker")]
    public BrokerSection Broker { get; set; } = new();

    /// <summary>The gRPC toast handler's queue.</summary>
    [ConfigurationKeyName("queue")]
    public QueueOptions Queue { get; set; } = new();

    /// <summary>The gRPC toast handler's publish retries.</summary>
    [ConfigurationKeyName("retry")]
    public RetryOptions Retry { get; set; } = new();
}

/// <summary><c>toast.grpc.broker.*</c> with snake_case keys, mapped onto the broker's <see cref="BrokerOptions"/>.
/// Defaults come from <see cref="BrokerOptions"/> itself, so they are stated once.</summary>
internal sealed class BrokerSection
{
    private static readonly BrokerOptions Defaults = new();

    /// <summary>The embedded default: the rings in memory, nothing kept across a restart.</summary>
    public const string MemoryBackend = "memory";

    /// <summary>A durable log on local disk.</summary>
    public const string FileBackend = "file";

    /// <summary>Cluster mode: the event log shared in Redis.</summary>
    public const string RedisBackend = "redis";

    /// <summary>Addition: where events are kept, <c>memory</c> (default), <c>file</c> or <c>redis</c>.</summary>
    [ConfigurationKeyName("backend")]
    public string Backend { get; set; } = MemoryBackend;

    /// <summary>Addition: <c>toast.grpc.broker.file.*</c>, read when <see cref="Backend"/> is file.</summary>
    [ConfigurationKeyName("file")]
    public FileSection File { get; set; } = new();

    /// <summary>Addition (cluster mode): <c>toast.grpc.broker.redis.*</c>, read when <see cref="Backend"/> is
    /// redis.</summary>
    [ConfigurationKeyName("redis")]
    public RedisSection Redis { get; set; } = new();

    /// <summary>The backend's name, trimmed and lower case.</summary>
    public string BackendName => (Backend ?? "").Trim().ToLowerInvariant();

    [ConfigurationKeyName("replay_size")]
    public int ReplaySize { get; set; } = Defaults.ReplaySize;

    [ConfigurationKeyName("max_in_flight")]
    public int MaxInFlight { get; set; } = Defaults.MaxInFlight;

    [ConfigurationKeyName("ack_timeout_s")]
    public double AckTimeoutSeconds { get; set; } = Defaults.AckTimeoutSeconds;

    [ConfigurationKeyName("heartbeat_interval_s")]
    public double HeartbeatIntervalSeconds { get; set; } = Defaults.HeartbeatIntervalSeconds;

    [ConfigurationKeyName("redelivery_delay_s")]
    public double RedeliveryDelaySeconds { get; set; } = Defaults.RedeliveryDelaySeconds;

    [ConfigurationKeyName("backpressure_threshold_pct")]
    public int BackpressureThresholdPct { get; set; } = Defaults.BackpressureThresholdPct;

    [ConfigurationKeyName("max_redelivery_attempts")]
    public int MaxRedeliveryAttempts { get; set; } = Defaults.MaxRedeliveryAttempts;

    /// <summary>Addition: control messages queued per stream before reading the client waits.</summary>
    [ConfigurationKeyName("max_queued_control_messages")]
    public int MaxQueuedControlMessages { get; set; } = Defaults.MaxQueuedControlMessages;

    /// <summary>Addition: <c>GetReplayBuffer</c>'s <c>max_events</c> when the request gives 0.</summary>
    [ConfigurationKeyName("default_replay_max_events")]
    public int DefaultReplayMaxEvents { get; set; } = Defaults.DefaultReplayMaxEvents;

    /// <summary>Addition: longest extend or nack delay, and longest backoff entry, in seconds.</summary>
    [ConfigurationKeyName("max_ack_extension_s")]
    public double MaxAckExtensionSeconds { get; set; } = Defaults.MaxAckExtensionSeconds;

    /// <summary>Addition: <c>toast.grpc.broker.dead_letters.*</c>.</summary>
    [ConfigurationKeyName("dead_letters")]
    public DeadLettersSection DeadLetters { get; set; } = new();

    /// <summary>Addition: <c>toast.grpc.broker.durable.*</c>.</summary>
    [ConfigurationKeyName("durable")]
    public DurableSection Durable { get; set; } = new();

    /// <summary>A new <see cref="BrokerOptions"/> with these values.</summary>
    public BrokerOptions ToBrokerOptions() => new()
    {
        MaxAckExtensionSeconds = MaxAckExtensionSeconds,
        DeadLetters = new DeadLetterOptions
        {
            MaxCount = DeadLetters.MaxCount,
            MaxAgeSeconds = DeadLetters.MaxAgeSeconds,
            ReplayPerSecond = DeadLetters.ReplayPerSecond,
        },
        Durable = new DurableOptions
        {
            InactiveTtlSeconds = Durable.InactiveTtlSeconds,
            FlushIntervalMs = Durable.FlushIntervalMs,
            LeaseTtlMs = Durable.LeaseTtlMs,
        },
        ReplaySize = ReplaySize,
        MaxInFlight = MaxInFlight,
        AckTimeoutSeconds = AckTimeoutSeconds,
        HeartbeatIntervalSeconds = HeartbeatIntervalSeconds,
        RedeliveryDelaySeconds = RedeliveryDelaySeconds,
        BackpressureThresholdPct = BackpressureThresholdPct,
        MaxRedeliveryAttempts = MaxRedeliveryAttempts,
        MaxQueuedControlMessages = MaxQueuedControlMessages,
        DefaultReplayMaxEvents = DefaultReplayMaxEvents,
    };
}

/// <summary><c>toast.grpc.broker.dead_letters.*</c>: retention per key and replay pace (docs/dead-letters.md);
/// defaults from <see cref="DeadLetterOptions"/>.</summary>
internal sealed class DeadLettersSection
{
    private static readonly DeadLetterOptions Defaults = new();

    [ConfigurationKeyName("max_count")]
    public int MaxCount { get; set; } = Defaults.MaxCount;

    [ConfigurationKeyName("max_age_s")]
    public double MaxAgeSeconds { get; set; } = Defaults.MaxAgeSeconds;

    [ConfigurationKeyName("replay_per_second")]
    public int ReplayPerSecond { get; set; } = Defaults.ReplayPerSecond;
}

/// <summary><c>toast.grpc.broker.durable.*</c>: durable subscriptions (docs/delivery.md); defaults from
/// <see cref="DurableOptions"/>.</summary>
internal sealed class DurableSection
{
    private static readonly DurableOptions Defaults = new();

    [ConfigurationKeyName("inactive_ttl_s")]
    public double InactiveTtlSeconds { get; set; } = Defaults.InactiveTtlSeconds;

    [ConfigurationKeyName("flush_interval_ms")]
    public int FlushIntervalMs { get; set; } = Defaults.FlushIntervalMs;

    [ConfigurationKeyName("lease_ttl_ms")]
    public int LeaseTtlMs { get; set; } = Defaults.LeaseTtlMs;
}

/// <summary><c>toast.grpc.broker.file.*</c>: the durable log on local disk (docs/configuration.md).</summary>
internal sealed class FileSection
{
    /// <summary>The log's folder; null = <c>&lt;gateway.state_dir&gt;/log</c>.</summary>
    [ConfigurationKeyName("path")]
    public string? Path { get; set; }

    /// <summary>When appends reach the disk: <c>always</c> (default: before the producer is answered and before
    /// subscribers see the event), <c>interval</c> or <c>never</c>.</summary>
    [ConfigurationKeyName("fsync")]
    public string Fsync { get; set; } = "always";

    /// <summary>With <c>fsync: interval</c>, milliseconds between syncs (default 100).</summary>
    [ConfigurationKeyName("fsync_interval_ms")]
    public int FsyncIntervalMs { get; set; } = 100;
}

/// <summary><c>toast.grpc.broker.redis.*</c>: the shared event log of cluster mode (docs/cluster.md).</summary>
internal sealed class RedisSection
{
    /// <summary>Default key prefix: every key and the fan-out channel start with it.</summary>
    public const string DefaultKeyPrefix = Marie.Events.Backends.Redis.RedisBackendOptions.DefaultKeyPrefix;

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c> (required with backend
    /// redis).</summary>
    [ConfigurationKeyName("connection")]
    public string? Connection { get; set; }

    /// <summary>Prefix of every key and channel, so several clusters can share one Redis (default
    /// <c>marie:</c>).</summary>
    [ConfigurationKeyName("key_prefix")]
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    /// <summary>This gateway's name in the stats (<c>gateway</c>); null = host name and process id.</summary>
    [ConfigurationKeyName("node_name")]
    public string? NodeName { get; set; }

    /// <summary>Appends of one topic in flight to Redis at once from this gateway (default 8).</summary>
    [ConfigurationKeyName("pipeline_depth")]
    public int PipelineDepth { get; set; } = Marie.Events.Backends.Redis.RedisBackendOptions.DefaultPipelineDepth;

    /// <summary>Replicas that must confirm an append (WAIT) before the producer is answered (default 0).</summary>
    [ConfigurationKeyName("ack_replicas")]
    public int AckReplicas { get; set; }

    /// <summary>Milliseconds one WAIT for ack_replicas lasts before the attempt is retried (default 1000).</summary>
    [ConfigurationKeyName("ack_timeout_ms")]
    public int AckTimeoutMs { get; set; } = Marie.Events.Backends.Redis.RedisBackendOptions.DefaultAckTimeoutMs;

    /// <summary>Where the Redis connections' reads and completions run: <c>pool</c> (default) or
    /// <c>dedicated</c>.</summary>
    [ConfigurationKeyName("io_threads")]
    public string IoThreads { get; set; } = Marie.Events.Backends.Redis.RedisBackendOptions.IoThreadsPool;

    /// <summary>Milliseconds between the periodic catch-ups that find announcements PUB/SUB lost (default
    /// 5000).</summary>
    [ConfigurationKeyName("catch_up_interval_ms")]
    public int CatchUpIntervalMs { get; set; } =
        Marie.Events.Backends.Redis.RedisBackendOptions.DefaultCatchUpIntervalMs;

    /// <summary>The Redis backend's options from these values.</summary>
    public Marie.Events.Backends.Redis.RedisBackendOptions ToBackendOptions(int replaySize) => new()
    {
        Connection = Connection ?? "",
        KeyPrefix = KeyPrefix,
        NodeName = NodeName,
        ReplaySize = replaySize,
        PipelineDepth = PipelineDepth,
        AckReplicas = AckReplicas,
        AckTimeoutMs = AckTimeoutMs,
        IoThreads = IoThreads,
        CatchUpIntervalMs = CatchUpIntervalMs,
    };
}

/// <summary><c>toast.grpc.queue.*</c>.</summary>
internal sealed class QueueOptions
{
    /// <summary>Events the handler queue holds (default 4096, as in Marie-AI).</summary>
    [ConfigurationKeyName("maxsize")]
    public int MaxSize { get; set; } = 4096;

    [ConfigurationKeyName("drop_if_full")]
    public bool DropIfFull { get; set; }

    /// <summary>Addition: seconds a publish waits for room when the queue is full (drop_if_full false); 0 = as long
    /// as the caller's deadline allows.</summary>
    [ConfigurationKeyName("enqueue_timeout_s")]
    public double EnqueueTimeoutSeconds { get; set; }

    /// <summary>Addition: seconds a stopping gateway gives the queue to reach the broker.</summary>
    [ConfigurationKeyName("drain_timeout_s")]
    public double DrainTimeoutSeconds { get; set; } = Toast.GrpcToastSettings.DefaultDrainTimeoutSeconds;
}

/// <summary><c>toast.grpc.retry.*</c>.</summary>
internal sealed class RetryOptions
{
    /// <summary>First retry delay in seconds (default 0.1, as in Marie-AI).</summary>
    [ConfigurationKeyName("backoff_base_s")]
    public double BackoffBaseSeconds { get; set; } = 0.1;

    /// <summary>Longest retry delay in seconds (default 2.0, as in Marie-AI).</summary>
    [ConfigurationKeyName("backoff_max_s")]
    public double BackoffMaxSeconds { get; set; } = 2.0;

    /// <summary>Attempts in all; 0 = infinite.</summary>
    [ConfigurationKeyName("max_attempts")]
    public int MaxAttempts { get; set; }
}
