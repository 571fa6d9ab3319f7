namespace Marie.Events.Backends.Redis;

/// <summary>The Redis backend's settings (<c>toast.grpc.broker.redis.*</c>; docs/cluster.md).</summary>
public sealed class RedisBackendOptions
{
    /// <summary>Default key prefix: every key and the fan-out channel start with it.</summary>
    public const string DefaultKeyPrefix = "marie:";

    /// <summary>Longest key prefix accepted (keys stay short; the prefix is in every key).</summary>
    public const int MaxKeyPrefixLength = 64;

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>127.0.0.1:6379</c> (required).</summary>
    public string Connection { get; set; } = "";

    /// <summary>Prefix of every key and channel, so several clusters can share one Redis (default
    /// <c>marie:</c>).</summary>
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    /// <summary>This gateway's name in the stats; null = host name and process id.</summary>
    public string? NodeName { get; set; }

    /// <summary>Default <see cref="PipelineDepth"/>.</summary>
    public const int DefaultPipelineDepth = 8;

    /// <summary>Largest <see cref="PipelineDepth"/> accepted.</summary>
    public const int MaxPipelineDepth = 256;

    /// <summary>Default <see cref="AckTimeoutMs"/>.</summary>
    public const int DefaultAckTimeoutMs = 1000;

    /// <summary>Appends of one topic in flight to Redis at once from this gateway (default 8; 1 = one at a
    /// time).</summary>
    public int PipelineDepth { get; set; } = DefaultPipelineDepth;

    /// <summary>Replicas that must confirm an append (WAIT) before the producer is answered (default 0: the
    /// primary's word).</summary>
    public int AckReplicas { get; set; }

    /// <summary>How long one WAIT for <see cref="AckReplicas"/> replicas lasts before the attempt fails and is
    /// retried, in milliseconds (default 1000).</summary>
    public int AckTimeoutMs { get; set; } = DefaultAckTimeoutMs;

    /// <summary><see cref="IoThreads"/>: StackExchange.Redis reads and completes on the .NET thread pool.</summary>
    public const string IoThreadsPool = "pool";

    /// <summary><see cref="IoThreads"/>: StackExchange.Redis's own shared pool of dedicated threads.</summary>
    public const string IoThreadsDedicated = "dedicated";

    /// <summary>Where the Redis connections' reads and completions run: <c>pool</c> (default), the .NET thread pool
    /// the gateway's own work runs on, or <c>dedicated</c>, StackExchange.Redis's shared pool of its own threads
    /// (its default, a shield for applications that block thread-pool threads, which the gateway does not do).
    /// With <c>pool</c> an announcement is not handed from a dedicated thread to the thread pool: WC measured
    /// 0.8 times the gateways' CPU per delivery (docs/cluster.md, Cluster run).</summary>
    public string IoThreads { get; set; } = IoThreadsPool;

    /// <summary>Default <see cref="CatchUpIntervalMs"/>.</summary>
    public const int DefaultCatchUpIntervalMs = 5000;

    /// <summary>Smallest <see cref="CatchUpIntervalMs"/> accepted (each catch-up reads two keys per topic).</summary>
    public const int MinCatchUpIntervalMs = 100;

    /// <summary>Milliseconds between the periodic catch-ups that find events whose announcement Redis PUB/SUB lost
    /// (default 5000): an event waits at most about twice this long when its announcement is lost and no later
    /// one reveals the gap.</summary>
    public int CatchUpIntervalMs { get; set; } = DefaultCatchUpIntervalMs;

    /// <summary>Events kept per topic in Redis (the broker's <c>replay_size</c>).</summary>
    public int ReplaySize { get; set; } = 200;

    /// <summary>The problems of these settings, each naming its key; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Connection))
        {
            errors.Add("toast.grpc.broker.redis.connection is required when toast.grpc.broker.backend is redis "
                + "(e.g. 127.0.0.1:6379)");
        }
        else
        {
            try
            {
                var parsed = StackExchange.Redis.ConfigurationOptions.Parse(Connection);
                if (parsed.EndPoints.Count == 0)
                {
                    errors.Add($"toast.grpc.broker.redis.connection names no Redis endpoint (got '{Connection}')");
                }
            }
            catch (ArgumentException ex)
            {
                errors.Add("toast.grpc.broker.redis.connection is not a valid StackExchange.Redis configuration "
                    + $"string: {ex.Message}");
            }
        }

        var prefix = KeyPrefix ?? "";
        // Braces would start a Redis Cluster hash tag in the prefix: every key would then share one slot.
        if (prefix.Length is 0 or > MaxKeyPrefixLength
            || prefix.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '{' or '}'))
        {
            errors.Add($"toast.grpc.broker.redis.key_prefix must be 1 to {MaxKeyPrefixLength} characters without "
                + $"spaces, braces or control characters (got '{KeyPrefix}')");
        }

        if (PipelineDepth is < 1 or > MaxPipelineDepth)
        {
            errors.Add(
                $"toast.grpc.broker.redis.pipeline_depth must be 1 to {MaxPipelineDepth} (got {PipelineDepth})");
        }

        if (AckReplicas < 0)
        {
            errors.Add($"toast.grpc.broker.redis.ack_replicas must be 0 or more (got {AckReplicas})");
        }

        if (AckTimeoutMs < 1)
        {
            errors.Add($"toast.grpc.broker.redis.ack_timeout_ms must be 1 or more (got {AckTimeoutMs})");
        }

        if (CatchUpIntervalMs < MinCatchUpIntervalMs)
        {
            errors.Add($"toast.grpc.broker.redis.catch_up_interval_ms must be {MinCatchUpIntervalMs} or more "
                + $"(got {CatchUpIntervalMs})");
        }

        if (IoThreads is not (IoThreadsPool or IoThreadsDedicated))
        {
            errors.Add($"toast.grpc.broker.redis.io_threads must be {IoThreadsPool} or {IoThreadsDedicated} "
                + $"(got '{IoThreads}')");
        }

        if (NodeName is { } node && (node.Length == 0 || node.Any(char.IsControl)))
        {
            errors.Add("toast.grpc.broker.redis.node_name must not be empty or hold control characters when set");
        }

        return errors;
    }
}
