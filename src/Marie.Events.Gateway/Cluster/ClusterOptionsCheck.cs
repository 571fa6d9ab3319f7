using Marie.Events.Gateway.Configuration;
using StackExchange.Redis;

namespace Marie.Events.Gateway.Cluster;

/// <summary>Start-up checks of <c>toast.grpc.broker.backend</c> and <c>toast.grpc.broker.redis.*</c>.</summary>
internal static class ClusterOptionsCheck
{
    public static void Validate(BrokerSection broker, List<string> errors)
    {
        var backend = broker.Backend?.Trim() ?? "";
        if (!string.Equals(backend, BrokerSection.MemoryBackend, StringComparison.OrdinalIgnoreCase)
            && !string.Equals(backend, BrokerSection.RedisBackend, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"toast.grpc.broker.backend must be memory or redis (got '{broker.Backend}')");
            return;
        }

        if (!broker.IsRedis)
        {
            return;
        }

        var redis = broker.Redis;
        if (string.IsNullOrWhiteSpace(redis.Connection))
        {
            errors.Add("toast.grpc.broker.redis.connection is required when toast.grpc.broker.backend is redis (e.g. 127.0.0.1:6379)");
        }
        else
        {
            try
            {
                var parsed = ConfigurationOptions.Parse(redis.Connection);
                if (parsed.EndPoints.Count == 0)
                {
                    errors.Add($"toast.grpc.broker.redis.connection names no Redis endpoint (got '{redis.Connection}')");
                }
            }
            catch (ArgumentException ex)
            {
                errors.Add($"toast.grpc.broker.redis.connection is not a valid StackExchange.Redis configuration string: {ex.Message}");
            }
        }

        var prefix = redis.KeyPrefix ?? "";
        if (prefix.Length is 0 or > RedisSection.MaxKeyPrefixLength || prefix.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            errors.Add($"toast.grpc.broker.redis.key_prefix must be 1 to {RedisSection.MaxKeyPrefixLength} characters without spaces or control characters (got '{redis.KeyPrefix}')");
        }

        if (redis.NodeName is { } node && (node.Length == 0 || node.Any(char.IsControl)))
        {
            errors.Add("toast.grpc.broker.redis.node_name must not be empty or hold control characters when set");
        }
    }
}
