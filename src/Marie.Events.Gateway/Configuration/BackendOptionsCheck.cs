namespace Marie.Events.Gateway.Configuration;

/// <summary>Start-up checks of <c>toast.grpc.broker.backend</c> and its section (<c>file.*</c>,
/// <c>redis.*</c>).</summary>
internal static class BackendOptionsCheck
{
    public static void Validate(BrokerSection broker, List<string> errors)
    {
        switch (broker.BackendName)
        {
            case BrokerSection.MemoryBackend:
                return;
            case BrokerSection.FileBackend:
                ValidateFile(broker.File, errors);
                return;
            case BrokerSection.RedisBackend:
                errors.AddRange(broker.Redis.ToBackendOptions(broker.ReplaySize).Validate());
                return;
            default:
                errors.Add($"toast.grpc.broker.backend must be memory, file or redis (got '{broker.Backend}')");
                return;
        }
    }

    private static void ValidateFile(FileSection file, List<string> errors)
    {
        if (file.Path is { } path && string.IsNullOrWhiteSpace(path))
        {
            errors.Add(
                "toast.grpc.broker.file.path must not be empty when set (leave it out for <gateway.state_dir>/log)");
        }

        if (!FileBackendSettings.TryParseFsync(file.Fsync, out _))
        {
            errors.Add($"toast.grpc.broker.file.fsync must be always, interval or never (got '{file.Fsync}')");
        }

        if (file.FsyncIntervalMs < 1)
        {
            errors.Add($"toast.grpc.broker.file.fsync_interval_ms must be at least 1 (got {file.FsyncIntervalMs})");
        }
    }
}
