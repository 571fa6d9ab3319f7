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
        if (prefix.Length is 0 or > MaxKeyPrefixLength || prefix.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            errors.Add($"toast.grpc.broker.redis.key_prefix must be 1 to {MaxKeyPrefixLength} characters without "
                + $"spaces or control characters (got '{KeyPrefix}')");
        }

        if (NodeName is { } node && (node.Length == 0 || node.Any(char.IsControl)))
        {
            errors.Add("toast.grpc.broker.redis.node_name must not be empty or hold control characters when set");
        }

        return errors;
    }
}
