using System.Text.Json.Serialization;
using Marie.Events.Broker;
using Marie.Events.Backends.Redis;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Broker.Storage;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Toast;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Gateway.Hosting;

/// <summary><c>GET /internal/stats</c> on the admin port: the broker's stats as snake_case JSON (Marie-AI's
/// <c>stats()</c> shape, which its tools read, plus extras). Needs <c>Authorization: Bearer &lt;admin
/// key&gt;</c>.</summary>
internal static class AdminStatsEndpoint
{
    public const string Path = "/internal/stats";

    /// <summary>This gateway's name in the stats when no shared backend names it: host name and process id.</summary>
    private static readonly string LocalNodeName = $"{Environment.MachineName}-{Environment.ProcessId}";

    public static async Task<IResult> Handle(HttpContext http)
    {
        var (admin, refusal) = AdminAuth.Check(http, typeof(AdminStatsEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        var response = await BuildAsync(http.RequestServices, admin!, http.RequestAborted).ConfigureAwait(false);
        return Results.Json(response, GatewayJsonContext.Default.StatsResponse);
    }

    /// <summary>The dead-letter figures; in cluster mode depth and oldest age read from Redis now, or the last ones
    /// read while Redis is away.</summary>
    private static async Task<DeadLetterStats> DeadLetterStatsAsync(GrpcEventBroker broker,
        CancellationToken cancellationToken)
    {
        try
        {
            return await broker.DeadLetterStatsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BackendException)
        {
            return broker.DeadLetterStats();
        }
    }

    /// <summary>The figures, as <c>GET /internal/stats</c> and <c>AdminService.GetStats</c> answer them, for an
    /// admin key (topics limited to what the key may see: an admin sees all).</summary>
    public static async Task<StatsResponse> BuildAsync(
        IServiceProvider services,
        ApiKeyIdentity admin,
        CancellationToken cancellationToken)
    {
        var broker = services.GetRequiredService<GrpcEventBroker>();
        var stats = broker.Stats(admin.Access);
        var toast = services.GetRequiredService<ToastPipeline>().Stats();
        var backend = broker.Backend;
        var shared = backend as RedisEventBackend;
        var response = StatsResponse.From(stats) with
        {
            Toast = toast,
            Gateway = shared?.NodeName ?? LocalNodeName,
            Backend = backend.Name,
            TopicStatsFrom = "gateway",
            DeadLetters = DeadLetterStatsResponse.From(
                await DeadLetterStatsAsync(broker, cancellationToken).ConfigureAwait(false)),
        };
        if (shared is not null)
        {
            // Cluster mode: topic figures are the shared log's (cluster-wide); the rest are this gateway's.
            try
            {
                var figures = await shared.DescribeAsync(
                    [.. response.TopicStats.Keys],
                    cancellationToken).ConfigureAwait(false);
                response = response with
                {
                    TopicStats = figures.ToDictionary(
                        f => f.Key,
                        f => new TopicStatsResponse(f.Value.Head, (int)f.Value.Buffered),
                        StringComparer.Ordinal),
                    TopicStatsFrom = backend.Name,
                };
            }
            catch (BackendException)
            {
                // Redis is away: the figures are this gateway's rings (topic_stats_from says so).
            }
            catch (StackExchange.Redis.RedisException)
            {
                // Likewise.
            }
            catch (TimeoutException)
            {
                // Likewise.
            }
        }

        return response;
    }
}

/// <summary>An admin API error body.</summary>
internal sealed record AdminError(string Error);

/// <summary>The stats JSON: <c>connections, subscriptions, topics, in_flight_events, topic_stats{topic: {head,
/// buffered}}</c> plus the broker's counters.</summary>
internal sealed record StatsResponse(
    int Connections,
    int Subscriptions,
    int Topics,
    long InFlightEvents,
    IReadOnlyDictionary<string, TopicStatsResponse> TopicStats,
    long EventsPublished,
    long EventsDelivered,
    long EventsRedelivered,
    long EventsDropped,
    long EventsLost,
    long BackpressureSignals,
    long EventsAcked,
    long QueuedReplies)
{
    /// <summary>Addition: the Toast pipeline's figures.</summary>
    public ToastStats? Toast { get; init; }

    /// <summary>Addition: which gateway answered (<c>toast.grpc.broker.redis.node_name</c>, or host name and
    /// process id).</summary>
    public string? Gateway { get; init; }

    /// <summary>Addition: <c>memory</c>, or <c>redis</c> (cluster mode: <c>topic_stats</c> are cluster-wide, the
    /// other figures this gateway's).</summary>
    public string? Backend { get; init; }

    /// <summary>Addition: where <c>topic_stats</c> come from: <c>redis</c> (cluster-wide), or <c>gateway</c> (this
    /// gateway's rings: the memory backend, or Redis unreachable at the time).</summary>
    public string? TopicStatsFrom { get; init; }

    /// <summary>Addition: the dead letters of every key on this gateway.</summary>
    public DeadLetterStatsResponse? DeadLetters { get; init; }

    public static StatsResponse From(BrokerStats s) => new(
        s.Connections,
        s.Subscriptions,
        s.Topics,
        s.InFlightEvents,
        s.TopicStats.ToDictionary(
            t => t.Key,
            t => new TopicStatsResponse(t.Value.Head, t.Value.Buffered),
            StringComparer.Ordinal),
        s.EventsPublished,
        s.EventsDelivered,
        s.EventsRedelivered,
        s.EventsDropped,
        s.EventsLost,
        s.BackpressureSignals,
        s.EventsAcked,
        s.QueuedReplies);
}

/// <summary><c>dead_letters</c> in the stats: held now (<c>depth</c>, <c>oldest_age_s</c>), dead-lettered since start
/// by reason (<c>by_reason</c>: <c>max_attempts</c>, <c>terminated</c>), replayed, purged and removed by retention
/// (<c>evicted</c>) since start.</summary>
internal sealed record DeadLetterStatsResponse(
    long Depth,
    double OldestAgeS,
    IReadOnlyDictionary<string, long> ByReason,
    long Replayed,
    long Purged,
    long Evicted)
{
    public static DeadLetterStatsResponse From(Broker.DeadLetters.DeadLetterStats s) => new(
        s.Depth,
        s.OldestAge.TotalSeconds,
        new Dictionary<string, long>(StringComparer.Ordinal)
        {
            [Broker.DeadLetters.DeadLetterReasons.MaxAttempts] = s.MaxAttempts,
            [Broker.DeadLetters.DeadLetterReasons.Terminated] = s.Terminated,
        },
        s.Replayed,
        s.Purged,
        s.Evicted);
}

/// <summary>One topic in <c>topic_stats</c>: <c>{head, buffered}</c>, as Marie-AI's <c>stats()</c> has it.</summary>
internal sealed record TopicStatsResponse(long Head, int Buffered);

/// <summary>Source-generated JSON, snake_case property names (dictionary keys, i.e. topics, are kept as they
/// are).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StatsResponse))]
[JsonSerializable(typeof(SubscriptionsResponse))]
[JsonSerializable(typeof(ConnectionsResponse))]
[JsonSerializable(typeof(AdminError))]
[JsonSerializable(typeof(List<KeyInfo>))]
[JsonSerializable(typeof(KeyStateChange))]
internal sealed partial class GatewayJsonContext : JsonSerializerContext;
