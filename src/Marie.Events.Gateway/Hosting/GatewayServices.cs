using Grpc.AspNetCore.Server;
using Grpc.HealthCheck;
using Marie.Events.Broker;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Services;
using Marie.Events.Gateway.Streams;
using Marie.Events.Gateway.Telemetry;
using Marie.Events.Gateway.Toast;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Hosting;

/// <summary>The gateway's service registrations and endpoint mappings.</summary>
internal static class GatewayServices
{
    /// <summary>How long a stopping gateway waits for open calls (event streams end at once; this bounds the
    /// rest, e.g. health watches) before closing connections.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    public static IServiceCollection AddMarieGateway(
        this IServiceCollection services,
        IConfiguration configuration,
        GatewayHostContext context)
    {
        AddValidatedOptions<GatewayOptions, GatewayOptionsValidator>(services, configuration, GatewayOptions.Section);
        AddValidatedOptions<AuthOptions, AuthOptionsValidator>(services, configuration, AuthOptions.Section);
        AddValidatedOptions<ToastOptions, ToastOptionsValidator>(services, configuration, ToastOptions.Section);
        AddValidatedOptions<LimitsOptions, LimitsOptionsValidator>(services, configuration, LimitsOptions.Section);
        AddValidatedOptions<TlsOptions, TlsOptionsValidator>(services, configuration, TlsOptions.Section);

        services.AddSingleton(context);
        services.TryAddSingleton(TimeProvider.System);
        // First: the broker's backend is loaded before any other hosted service starts.
        services.AddMarieBroker();
        services.AddSingleton(sp => ApiKeyBootstrap.Create(
            sp.GetRequiredService<IOptions<AuthOptions>>().Value,
            sp.GetRequiredService<IOptions<GatewayOptions>>().Value,
            context.Console,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(APIKeyManager).FullName!)));
        services.AddSingleton<ApiKeyInterceptor>();
        services.AddSingleton<PublishGuardInterceptor>();
        services.AddSingleton<Services.PublishAdmission>();
        services.AddSingleton<AuthFailureLogs>();
        services.AddSingleton<StreamRegistry>();
        services.AddSingleton<KeyReloadService>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyReloadService>());
        services.AddSingleton<GatewayEndpoints>();
        services.AddSingleton<HealthServiceImpl>();
        services.AddHostedService<GatewayLifecycle>();
        services.AddToastPipeline();
        services.AddMarieTelemetry(configuration);

        services.AddOptions<KestrelServerOptions>()
            .Configure<GatewayEndpoints, IOptions<GatewayOptions>, IOptions<TlsOptions>>(ConfigureKestrel);
        services.AddOptions<GrpcServiceOptions>()
            .Configure<IOptions<LimitsOptions>>(ConfigureGrpc);
        services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);

        services.AddGrpc()
            .AddServiceOptions<EventStreamService>(o => o.Interceptors.Add<ApiKeyInterceptor>())
            .AddServiceOptions<EventPublisherService>(o =>
            {
                o.Interceptors.Add<ApiKeyInterceptor>();
                o.Interceptors.Add<PublishGuardInterceptor>();
            })
            .AddServiceOptions<AdminGrpcService>(o => o.Interceptors.Add<ApiKeyInterceptor>())
            .AddServiceOptions<DeadLetterGrpcService>(o => o.Interceptors.Add<ApiKeyInterceptor>())
            .AddServiceOptions<DurableGrpcService>(o => o.Interceptors.Add<ApiKeyInterceptor>());
        services.AddGrpcReflection();
        return services;
    }

    public static WebApplication MapMarieGateway(this WebApplication app, GatewayHostContext context)
    {
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcReflectionService();
        if (context.GrpcEnabled)
        {
            app.MapGrpcService<EventStreamService>();
        }

        // Served either way: without the stream service it still feeds the other toast handlers.
        app.MapGrpcService<EventPublisherService>();
        app.MapGrpcService<AdminGrpcService>();
        app.MapGrpcService<DeadLetterGrpcService>();
        app.MapGrpcService<DurableGrpcService>();

        app.MapGet(AdminStatsEndpoint.Path, (Delegate)AdminStatsEndpoint.Handle);
        app.MapGet(AdminSubscriptionsEndpoint.Path, (Delegate)AdminSubscriptionsEndpoint.Handle);
        app.MapGet(AdminConnectionsEndpoint.Path, (Delegate)AdminConnectionsEndpoint.Handle);
        app.MapGet(AdminKeysEndpoint.ListPath, AdminKeysEndpoint.List);
        app.MapPost(AdminKeysEndpoint.DisablePath, AdminKeysEndpoint.Disable);
        app.MapPost(AdminKeysEndpoint.EnablePath, AdminKeysEndpoint.Enable);
        AdminDeadLettersEndpoint.Map(app);
        Dashboard.DashboardEndpoint.Map(app);
        app.MapMarieMetrics(app.Configuration);
        AdminDurablesEndpoint.Map(app);
        return app;
    }

    /// <summary>Kestrel's options are built with the application, before start-up validation: invalid gateway
    /// options are skipped here and reported by that validation, which runs before the server binds.</summary>
    private static void ConfigureKestrel(
        KestrelServerOptions kestrel,
        GatewayEndpoints endpoints,
        IOptions<GatewayOptions> gateway,
        IOptions<TlsOptions> tls)
    {
        GatewayOptions options;
        TlsOptions tlsOptions;
        try
        {
            options = gateway.Value;
            tlsOptions = tls.Value;
        }
        catch (OptionsValidationException)
        {
            return;
        }

        endpoints.Configure(kestrel, options, tlsOptions.Enabled ? TlsCertificateLoader.Load(tlsOptions) : null);
    }

    /// <summary><c>gateway.limits.max_message_bytes</c>: a larger client message ends its call with
    /// RESOURCE_EXHAUSTED before it is parsed.</summary>
    private static void ConfigureGrpc(GrpcServiceOptions grpc, IOptions<LimitsOptions> limits)
    {
        try
        {
            grpc.MaxReceiveMessageSize = limits.Value.MaxMessageBytes;
        }
        catch (OptionsValidationException)
        {
            // Reported by start-up validation.
        }
    }

    private static void AddValidatedOptions<TOptions, TValidator>(
        IServiceCollection services,
        IConfiguration configuration,
        string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        services.AddOptions<TOptions>()
            .Configure(o => SectionBinder.Bind(configuration, section, o))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<TOptions>, TValidator>();
    }
}
