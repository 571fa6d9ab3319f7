using Marie.Events.Broker;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Toast;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Cluster;

/// <summary>Cluster mode's registrations.</summary>
internal static class ClusterServices
{
    /// <summary>Registers the cluster node (a hosted service that does nothing with the memory backend) and, with
    /// the Redis backend, the Redis sink. Call before the toast pipeline, so the node starts before it and stops
    /// after it has drained into Redis.</summary>
    public static IServiceCollection AddMarieCluster(this IServiceCollection services)
    {
        services.AddSingleton<ClusterNode>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterNode>());
        services.TryAddSingleton<IEventSink>(sp =>
            sp.GetRequiredService<IOptions<ToastOptions>>().Value.Grpc.Broker.IsRedis
                ? new RedisEventSink(sp.GetRequiredService<ClusterNode>(), sp.GetRequiredService<GrpcEventBroker>(), sp.GetRequiredService<TimeProvider>())
                : new BrokerEventSink(sp.GetRequiredService<GrpcEventBroker>()));
        return services;
    }
}
