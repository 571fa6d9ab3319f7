using Grpc.Health.V1;
using Grpc.HealthCheck;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Hosting;

/// <summary>
/// Start-up and shutdown: loads the API keys (creating the development keys on a first run) before the server
/// starts, logs what is configured, sets health SERVING once the server listens and NOT_SERVING as soon as the
/// gateway starts stopping.
/// </summary>
internal sealed class GatewayLifecycle(
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    HealthServiceImpl health,
    GatewayEndpoints endpoints,
    GatewayHostContext context,
    ILogger<GatewayLifecycle> logger) : IHostedLifecycleService
{
    /// <summary>The overall status (empty service name).</summary>
    private const string Overall = "";

    private string[] ServedNames => context.GrpcEnabled
        ? [Overall, Proto.EventStreamService.Descriptor.FullName, Proto.EventPublisherService.Descriptor.FullName]
        : [Overall, Proto.EventPublisherService.Descriptor.FullName];

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        GatewayLog.ConfigurationSource(logger, context.ConfigurationSource);
        // Runs after options validation: the keys (and a first run's development keys) exist before any request.
        _ = services.GetRequiredService<APIKeyManager>();
        if (!context.GrpcEnabled)
        {
            GatewayLog.GrpcDisabled(logger);
        }

        lifetime.ApplicationStarted.Register(OnStarted);
        lifetime.ApplicationStopping.Register(OnStopping);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void OnStarted()
    {
        foreach (var name in ServedNames)
        {
            health.SetStatus(name, HealthCheckResponse.Types.ServingStatus.Serving);
        }

        GatewayLog.Listening(
            logger,
            endpoints.GrpcProtocol,
            endpoints.GrpcDisplay,
            endpoints.AdminProtocol,
            endpoints.AdminDisplay);
        if (endpoints.Certificate is { } certificate)
        {
            var notAfter = certificate.NotAfter.ToUniversalTime();
            SecurityLog.TlsEnabled(logger, certificate.Subject, certificate.Thumbprint, notAfter);
        }
    }

    private void OnStopping()
    {
        foreach (var name in ServedNames)
        {
            health.SetStatus(name, HealthCheckResponse.Types.ServingStatus.NotServing);
        }

        GatewayLog.Stopping(logger);
    }
}
