using Marie.Events.Broker;
using Marie.Events.Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Toast;

/// <summary>The pipeline's service registrations.</summary>
internal static class ToastServices
{
    /// <summary>What the host keeps for its own stopping beyond the drain (Kestrel closing connections).</summary>
    private static readonly TimeSpan StopMargin = TimeSpan.FromSeconds(5);

    /// <summary>Registers the registry, the enabled handlers and the pipeline's hosted service.</summary>
    public static IServiceCollection AddToastPipeline(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<ToastOptions>, ToastPipelineOptionsValidator>();
        services.AddSingleton(sp => Create(sp));
        services.AddSingleton(sp => sp.GetRequiredService<ToastPipeline>().Registry);
        services.AddHostedService(sp => sp.GetRequiredService<ToastPipeline>());

        // The host must give the drain its time: at least drain_timeout_s plus a margin for Kestrel.
        services.AddOptions<HostOptions>().PostConfigure<IOptions<ToastOptions>>((host, toast) =>
        {
            try
            {
                var needed = TimeSpan.FromSeconds(toast.Value.Grpc.Queue.DrainTimeoutSeconds) + StopMargin;
                if (host.ShutdownTimeout < needed)
                {
                    host.ShutdownTimeout = needed;
                }
            }
            catch (OptionsValidationException)
            {
                // Reported by start-up validation, with the key's name.
            }
        });
        return services;
    }

    private static ToastPipeline Create(IServiceProvider sp)
    {
        var toast = sp.GetRequiredService<IOptions<ToastOptions>>().Value;
        var gateway = sp.GetRequiredService<IOptions<GatewayOptions>>().Value;
        var time = sp.GetRequiredService<TimeProvider>();
        var loggers = sp.GetRequiredService<ILoggerFactory>();
        var grpc = toast.Grpc.Enabled
            ? new GrpcToastHandler(
                sp.GetRequiredService<GrpcEventBroker>(),
                GrpcToastSettings.From(toast.Grpc.Queue, toast.Grpc.Retry),
                time,
                loggers.CreateLogger<GrpcToastHandler>())
            : null;
        var native = toast.Native.Enabled
            ? new NativeToastHandler(
                NativeToastSettings.From(toast.Native, gateway.StateDir),
                loggers.CreateLogger<NativeToastHandler>(),
                time)
            : null;
        return new ToastPipeline(
            new ToastRegistry(loggers.CreateLogger<ToastRegistry>()),
            grpc,
            native,
            sp.GetRequiredService<IHostApplicationLifetime>(),
            time,
            loggers.CreateLogger<ToastPipeline>());
    }
}
