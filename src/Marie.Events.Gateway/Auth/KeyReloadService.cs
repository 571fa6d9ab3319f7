using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Hosting;
using Marie.Events.Gateway.Logging;
using Marie.Events.Gateway.Streams;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Auth;

/// <summary>
/// Watches the configuration file (when the gateway runs from one and <c>auth.reload_on_change</c> is true) and
/// applies changes to <c>auth.keys</c> without a restart: a change is parsed and validated first, and only a valid
/// one replaces the key table; then the <see cref="StreamRegistry"/> closes or narrows the streams of keys that lost
/// their rights. A file that does not parse or validate changes nothing (the previous keys stay, an error is logged).
/// Other settings are read at start-up only.
/// </summary>
internal sealed class KeyReloadService(
    IConfiguration configuration,
    GatewayHostContext context,
    IOptions<AuthOptions> auth,
    IOptions<GatewayOptions> gateway,
    APIKeyManager keys,
    StreamRegistry streams,
    TimeProvider time,
    ILogger<KeyReloadService> logger) : IHostedService, IDisposable
{
    /// <summary>Quiet time after the last file event before reloading: editors and copies write a file in several
    /// steps; 100 ms coalesces them and keeps a change's effect well within a second.</summary>
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(100);

    private readonly Lock _reload = new();
    private FileSystemWatcher? _watcher;
    private ITimer? _timer;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var path = context.ConfigurationFile;
        if (path is null || !auth.Value.ReloadOnChange)
        {
            return Task.CompletedTask;
        }

        // Touched so that its subscription to key changes exists before any change can happen.
        _ = streams;
        _timer = time.CreateTimer(
            static s => ((KeyReloadService)s!).Reload(),
            this,
            Timeout.InfiniteTimeSpan,
            Timeout.InfiniteTimeSpan);
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!, Path.GetFileName(path))
        {
            NotifyFilter = NotifyFilters.LastWrite
                | NotifyFilters.FileName
                | NotifyFilters.Size
                | NotifyFilters.CreationTime,
        };
        _watcher.Changed += OnFileEvent;
        _watcher.Created += OnFileEvent;
        _watcher.Renamed += OnFileEvent;
        _watcher.Error += (_, e) =>
            SecurityLog.KeysReloadRejected(
                logger,
                path,
                $"the file watcher failed ({e.GetException().Message}); restart the gateway to apply key changes");
        _watcher.EnableRaisingEvents = true;
        SecurityLog.WatchingConfiguration(logger, path);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _watcher = null;
        _timer?.Dispose();
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e) =>
        _timer?.Change(Debounce, Timeout.InfiniteTimeSpan);

    /// <summary>Reads the file again and, if it is valid, applies its keys. Public for tests of the rules.</summary>
    public void Reload()
    {
        var path = context.ConfigurationFile!;
        lock (_reload)
        {
            AuthOptions options;
            try
            {
                // Parsed alone first: a half-written or broken file must not clear the configuration's keys.
                _ = new ConfigurationBuilder().AddYamlFile(path, optional: false, reloadOnChange: false).Build();
                ((IConfigurationRoot)configuration).Reload();
                options = new AuthOptions();
                SectionBinder.Bind(configuration, AuthOptions.Section, options);
            }
            catch (Exception ex) when (
                ex is IOException
                    or FormatException
                    or InvalidDataException
                    or YamlDotNet.Core.YamlException
                    or OptionsValidationException)
            {
                SecurityLog.KeysReloadRejected(
                    logger,
                    path,
                    ex is OptionsValidationException v ? string.Join("; ", v.Failures) : ex.Message);
                return;
            }

            var result = new AuthOptionsValidator().Validate(null, options);
            if (result.Failed)
            {
                SecurityLog.KeysReloadRejected(logger, path, string.Join("; ", result.Failures));
                return;
            }

            try
            {
                var entries = ApiKeyBootstrap.KeysFor(options, gateway.Value, context.Console, logger);
                keys.Replace(ApiKeyBootstrap.Registrations(entries));
            }
            catch (Exception ex) when (ex is GatewayConfigurationException or ArgumentException)
            {
                SecurityLog.KeysReloadRejected(logger, path, ex.Message);
                return;
            }

            SecurityLog.KeysReloaded(logger, path, keys.Count, keys.EnabledCount);
        }
    }
}
