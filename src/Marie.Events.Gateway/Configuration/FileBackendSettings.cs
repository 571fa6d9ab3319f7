using Marie.Events.Broker.Storage;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Configuration;

/// <summary><c>toast.grpc.broker.file.*</c> mapped onto the file backend.</summary>
internal static class FileBackendSettings
{
    public static bool TryParseFsync(string? value, out string mode)
    {
        mode = (value ?? "").Trim().ToLowerInvariant();
        return mode is "always" or "interval" or "never";
    }

    public static IEventBackend Create(BrokerSection broker, GatewayOptions gateway, ILoggerFactory loggers) =>
        throw new GatewayConfigurationException("toast.grpc.broker.backend: file is being wired");
}
