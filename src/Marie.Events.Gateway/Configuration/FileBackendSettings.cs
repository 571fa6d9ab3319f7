using Marie.Events.Backends.File;
using Marie.Events.Broker.Storage;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Configuration;

/// <summary><c>toast.grpc.broker.file.*</c> mapped onto the file backend.</summary>
internal static class FileBackendSettings
{
    /// <summary>Reads <c>toast.grpc.broker.file.fsync</c>: always, interval or never (any case).</summary>
    public static bool TryParseFsync(string? value, out FsyncMode mode)
    {
        switch ((value ?? "").Trim().ToLowerInvariant())
        {
            case "always":
                mode = FsyncMode.Always;
                return true;
            case "interval":
                mode = FsyncMode.Interval;
                return true;
            case "never":
                mode = FsyncMode.Never;
                return true;
            default:
                mode = FsyncMode.Always;
                return false;
        }
    }

    /// <summary>The file backend from validated settings; its folder defaults to
    /// <c>&lt;gateway.state_dir&gt;/log</c>.</summary>
    public static IEventBackend Create(BrokerSection broker, GatewayOptions gateway, ILoggerFactory loggers)
    {
        _ = TryParseFsync(broker.File.Fsync, out var fsync); // validated at start-up (BackendOptionsCheck)
        return new FileEventBackend(
            new FileBackendOptions
            {
                Path = broker.File.Path ?? Path.Combine(gateway.StateDir, "log"),
                ReplaySize = broker.ReplaySize,
                Fsync = fsync,
                FsyncIntervalMs = broker.File.FsyncIntervalMs,
            },
            loggers.CreateLogger<FileEventBackend>());
    }
}
