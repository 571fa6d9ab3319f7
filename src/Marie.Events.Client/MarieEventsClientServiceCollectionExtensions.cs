using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Client;

/// <summary>Registers an <see cref="EventStreamClient"/> in a service collection.</summary>
public static class MarieEventsClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="EventStreamClient"/> singleton built from <see cref="EventStreamClientOptions"/>
    /// (configured by <paramref name="configure"/> and any other <c>Configure&lt;EventStreamClientOptions&gt;</c>),
    /// validated when first resolved (an <see cref="OptionsValidationException"/> naming each bad property). When the
    /// options name no logger factory or clock, the container's <see cref="ILoggerFactory"/> and
    /// <see cref="TimeProvider"/> are used if registered. The container disposes the client.
    /// </summary>
    public static IServiceCollection AddMarieEventsClient(
        this IServiceCollection services,
        Action<EventStreamClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<EventStreamClientOptions>().Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<
            IValidateOptions<EventStreamClientOptions>,
            EventStreamClientOptionsValidator>());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EventStreamClientOptions>>().Value;
            options.LoggerFactory ??= sp.GetService<ILoggerFactory>();
            options.TimeProvider ??= sp.GetService<TimeProvider>();
            return new EventStreamClient(options);
        });
        return services;
    }

    private sealed class EventStreamClientOptionsValidator : IValidateOptions<EventStreamClientOptions>
    {
        public ValidateOptionsResult Validate(string? name, EventStreamClientOptions options)
        {
            var problems = options.Problems();
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
