using Marie.Events.Backends.Redis;
using Marie.Events.Broker;
using Marie.Events.Broker.Storage;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Hosting;

/// <summary>The broker and its backend (<c>toast.grpc.broker.backend</c>): the one place a backend is chosen.</summary>
internal static class BackendServices
{
    /// <summary>Registers the backend named by the configuration (unless one is registered already, as tests do),
    /// the broker on it, and the hosted service that loads it before anything else starts.</summary>
    public static IServiceCollection AddMarieBroker(this IServiceCollection services)
    {
        services.TryAddSingleton(CreateBackend);
        services.AddSingleton(sp => new GrpcEventBroker(
            BrokerOptionsFrom(sp),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<IEventBackend>()).WithMetrics(sp));
        services.AddHostedService<BrokerStartup>();
        return services;
    }

    private static BrokerOptions BrokerOptionsFrom(IServiceProvider sp)
    {
        var options = sp.GetRequiredService<IOptions<ToastOptions>>().Value.Grpc.Broker.ToBrokerOptions();
        options.Limits = sp.GetRequiredService<IOptions<LimitsOptions>>().Value.ToBrokerLimits();
        return options;
    }

    private static IEventBackend CreateBackend(IServiceProvider sp)
    {
        var broker = sp.GetRequiredService<IOptions<ToastOptions>>().Value.Grpc.Broker;
        var loggers = sp.GetRequiredService<ILoggerFactory>();
        return broker.BackendName switch
        {
            BrokerSection.RedisBackend =>
                new RedisEventBackend(
                    broker.Redis.ToBackendOptions(broker.ReplaySize),
                    loggers.CreateLogger<RedisEventBackend>(),
                    TelemetryServices.MeterFactoryIfEnabled(sp)),
            BrokerSection.FileBackend =>
                FileBackendSettings.Create(broker, sp.GetRequiredService<IOptions<GatewayOptions>>().Value, loggers),
            _ => new MemoryEventBackend(),
        };
    }

    /// <summary>Loads the backend into the broker's rings before the pipeline and the server start (hosted
    /// services start in registration order, and this one is registered first), so the gateway reports SERVING
    /// only with its rings filled. A backend that cannot start stops the gateway with its message (exit code
    /// 2).</summary>
    private sealed class BrokerStartup(GrpcEventBroker broker, ILogger<BrokerStartup> logger) : IHostedService
    {
        /// <summary>How long a stop waits for the dead letters' last changes: a healthy backend writes them in
        /// milliseconds; 5 s is well inside the host's default 30 s shutdown.</summary>
        private static readonly TimeSpan DeadLetterFlushTimeout = TimeSpan.FromSeconds(5);

        public async Task StartAsync(CancellationToken cancellationToken)
        {
            try
            {
                var load = await broker.StartAsync(cancellationToken).ConfigureAwait(false);
                Logging.GatewayLog.BackendStarted(logger, broker.Backend.Name, load.Topics, load.Events);
            }
            catch (BackendException ex)
            {
                throw new GatewayConfigurationException(ex.Message, ex);
            }
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            // Stopped last (registered first): the streams have ended and handed their durables' in-flight events
            // back, so what is saved here is every durable's final state.
            await broker.FlushDurablesAsync(CancellationToken.None).ConfigureAwait(false);
            // The dead letters' write-behind is written out too, within a bound: a backend that is away (Redis
            // down) must not hold the stop for ever; what is left is logged (1142).
            using (var flush = new CancellationTokenSource(DeadLetterFlushTimeout))
            {
                await broker.FlushDeadLettersAsync(flush.Token).ConfigureAwait(false);
            }

            await broker.Backend.DisposeAsync().ConfigureAwait(false);
        }
    }
}
