using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.Gateway;
using Marie.Events.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marie.Events.FunctionalTests.Infrastructure;

/// <summary>What a test gateway is started with.</summary>
public sealed class GatewaySettings
{
    /// <summary>Configuration values over the configuration file (keys with ':', e.g.
    /// <c>toast:grpc:enabled</c>).</summary>
    public Dictionary<string, string?> Config { get; } = [];

    /// <summary>Configure <see cref="TestKeys"/> as <c>auth.keys</c> (false: the gateway uses development
    /// keys).</summary>
    public bool ConfigureKeys { get; set; } = true;

    /// <summary>Command-line arguments (e.g. <c>--config FILE</c>).</summary>
    public List<string> Args { get; } = [];

    /// <summary>The environment the gateway sees (MARIE_EVENTS_CONFIG, MARIE_LOG_LEVEL); the real one is not
    /// read.</summary>
    public Dictionary<string, string?> Environment { get; } = [];

    /// <summary><c>gateway.state_dir</c>; default a new temporary folder, deleted with the fixture.</summary>
    public string? StateDir { get; set; }

    /// <summary>The test keys to configure; null = new ones (several gateways of one cluster share theirs).</summary>
    public TestKeys? Keys { get; set; }

    /// <summary>Adjusts the gateway's services after its registrations (e.g. a failing broker sink).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; set; }
}

/// <summary>
/// The real gateway host, in-process, on 127.0.0.1 with both ports 0 (the bound ports are read after start), with
/// a test key per role, a gRPC channel and an admin HTTP client.
/// </summary>
public sealed class GatewayFixture : IAsyncDisposable
{
    /// <summary>The longest a test waits for something that should happen.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly bool _ownsStateDir;

    private GatewayFixture(
        WebApplication app,
        TestKeys keys,
        LogCapture logs,
        StringWriter console,
        string stateDir,
        bool ownsStateDir)
    {
        App = app;
        Keys = keys;
        Logs = logs;
        Console = console;
        StateDir = stateDir;
        _ownsStateDir = ownsStateDir;
        Ports = GatewayHost.GetBoundPorts(app);
        Channel = GrpcChannel.ForAddress($"http://127.0.0.1:{Ports.Grpc}");
        Admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Ports.Admin}"), Timeout = Timeout };
        Streams = new EventStreamService.EventStreamServiceClient(Channel);
        Publisher = new EventPublisherService.EventPublisherServiceClient(Channel);
    }

    public WebApplication App { get; }
    public GatewayPorts Ports { get; }
    public TestKeys Keys { get; }
    public LogCapture Logs { get; }

    /// <summary>What the gateway printed to its console (the development key block).</summary>
    public StringWriter Console { get; }

    public string StateDir { get; }
    public GrpcChannel Channel { get; }
    public HttpClient Admin { get; }
    public EventStreamService.EventStreamServiceClient Streams { get; }
    public EventPublisherService.EventPublisherServiceClient Publisher { get; }

    /// <summary>Starts a gateway.</summary>
    public static async Task<GatewayFixture> StartAsync(Action<GatewaySettings>? configure = null)
    {
        var settings = new GatewaySettings();
        configure?.Invoke(settings);
        var keys = settings.Keys ?? new TestKeys();
        var logs = new LogCapture();
        var console = new StringWriter();
        var ownsStateDir = settings.StateDir is null;
        var stateDir = settings.StateDir ?? NewTempDir();
        var app = Build(settings, keys, logs, console, stateDir);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new GatewayFixture(app, keys, logs, console, stateDir, ownsStateDir);
    }

    /// <summary>Builds (does not start) a gateway, for tests of start-up failures.</summary>
    public static WebApplication Build(
        GatewaySettings settings,
        TestKeys? keys = null,
        LogCapture? logs = null,
        TextWriter? console = null,
        string? stateDir = null)
    {
        var values = new Dictionary<string, string?>
        {
            ["gateway:host"] = "127.0.0.1",
            ["gateway:port"] = "0",
            ["gateway:admin_port"] = "0",
            // Not created unless the gateway needs it (development keys).
            ["gateway:state_dir"] = stateDir ?? settings.StateDir ?? Path.Combine(
                Path.GetTempPath(),
                "marie-events-tests",
                Guid.NewGuid().ToString("N")),
        };
        if (settings.ConfigureKeys)
        {
            foreach (var (key, value) in (keys ?? new TestKeys()).AsConfiguration())
            {
                values[key] = value;
            }
        }

        foreach (var (key, value) in settings.Config)
        {
            values[key] = value;
        }

        return GatewayHost.Build(new GatewayHostOptions
        {
            Args = settings.Args,
            ConfigureConfiguration = c => c.AddInMemoryCollection(values),
            // Captured instead of written to the console (the gateway's level filter still applies).
            ConfigureLogging = l => l.ClearProviders().AddProvider(logs ?? new LogCapture()),
            ConfigureServices = settings.ConfigureServices,
            Console = TextWriter.Synchronized(console ?? new StringWriter()),
            GetEnvironmentVariable = name => settings.Environment.GetValueOrDefault(name),
        });
    }

    /// <summary>A new empty temporary folder.</summary>
    public static string NewTempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "marie-events-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Call options carrying <c>authorization: Bearer key</c>, with a deadline.</summary>
    public static CallOptions Auth(string? key, CancellationToken cancellationToken = default) =>
        new(headers: key is null ? [] : new Metadata { { "authorization", $"Bearer {key}" } },
            deadline: DateTime.UtcNow.Add(Timeout),
            cancellationToken: cancellationToken);

    /// <summary>An admin API GET with an optional bearer key.</summary>
    public Task<HttpResponseMessage> GetStatsAsync(string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/stats");
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return Admin.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownsStateDir)
        {
            try
            {
                Directory.Delete(StateDir, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary folder is harmless.
            }
        }
    }
}
