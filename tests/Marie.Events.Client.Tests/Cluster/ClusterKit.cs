using System.Globalization;
using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>Gateways of one cluster on one test Redis (or a Redis Cluster, or Sentinel, by its connection string):
/// shared keys, a key prefix of the test's own, short timings.</summary>
public sealed class ClusterKit
{
    public ClusterKit(RedisServer redis)
        : this(redis.Connection) => Redis = redis;

    public ClusterKit(string connection) => Connection = connection;

    /// <summary>The single test Redis, when the kit is on one (gateway processes need it).</summary>
    public RedisServer? Redis { get; }

    /// <summary>The StackExchange.Redis configuration string every gateway of the kit uses.</summary>
    public string Connection { get; }

    public TestKeys Keys { get; } = new();

    /// <summary>A prefix per kit, so tests sharing nothing never see each other's keys.</summary>
    public string KeyPrefix { get; } = "t" + Guid.NewGuid().ToString("N")[..8] + ":";

    /// <summary><c>toast.grpc.broker.*</c> for every gateway of the kit.</summary>
    public Dictionary<string, string> Broker { get; } = new(StringComparer.Ordinal)
    {
        ["max_in_flight"] = "500",
        // Heartbeats every second: open streams stay visibly alive while Redis is away.
        ["heartbeat_interval_s"] = "1",
    };

    /// <summary>An in-process cluster gateway named <paramref name="name"/>; <paramref name="grpcPort"/> 0 = any
    /// port.</summary>
    public Task<GatewayFixture> StartAsync(string name, int grpcPort = 0) =>
        GatewayFixture.StartAsync(s =>
        {
            s.Keys = Keys;
            s.Config["gateway:port"] = grpcPort.ToString(CultureInfo.InvariantCulture);
            s.Config["toast:native:enabled"] = "false";
            // Retries of a publish while Redis is away: quick, and never given up.
            s.Config["toast:grpc:retry:backoff_base_s"] = "0.05";
            s.Config["toast:grpc:retry:backoff_max_s"] = "0.2";
            s.Config["toast:grpc:broker:backend"] = "redis";
            s.Config["toast:grpc:broker:redis:connection"] = Connection;
            s.Config["toast:grpc:broker:redis:key_prefix"] = KeyPrefix;
            s.Config["toast:grpc:broker:redis:node_name"] = name;
            foreach (var (key, value) in Broker)
            {
                s.Config[$"toast:grpc:broker:{key}"] = value;
            }
        });

    /// <summary>A gateway of the kit in its own process.</summary>
    public Task<GatewayProcess> StartProcessAsync(string name) =>
        GatewayProcess.StartAsync(
            Redis ?? throw new InvalidOperationException("gateway processes run on a single test Redis"),
            KeyPrefix, Keys, name, Broker);

    /// <summary>A client of the given addresses (failing over in order), with test timings.</summary>
    public static EventStreamClient Client(string key, params Uri[] addresses) =>
        new(Options(key, addresses));

    public static EventStreamClientOptions Options(string key, params Uri[] addresses)
    {
        var options = new EventStreamClientOptions
        {
            ApiKey = key,
            AckFlushInterval = TimeSpan.FromMilliseconds(10),
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(10),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            SubscribeTimeout = TimeSpan.FromSeconds(10),
        };
        foreach (var address in addresses)
        {
            options.Addresses.Add(address);
        }

        return options;
    }

    public static Uri AddressOf(GatewayFixture gateway) => new($"http://127.0.0.1:{gateway.Ports.Grpc}");
}
