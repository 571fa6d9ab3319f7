using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Gateway;
using Marie.Events.Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.FunctionalTests;

/// <summary>Configuration: the embedded default, --config, MARIE_EVENTS_CONFIG, validation naming the key.</summary>
public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("toast:grpc:broker:max_in_flight", "0", "toast.grpc.broker.max_in_flight must be at least 1 (got 0)")]
    [InlineData("toast:grpc:broker:replay_size", "0", "toast.grpc.broker.replay_size must be at least 1 (got 0)")]
    [InlineData(
        "toast:grpc:broker:ack_timeout_s",
        "0",
        "toast.grpc.broker.ack_timeout_s must be greater than 0 (got 0)")]
    [InlineData(
        "toast:grpc:broker:backpressure_threshold_pct",
        "101",
        "toast.grpc.broker.backpressure_threshold_pct must be between 1 and 100 (got 101)")]
    [InlineData(
        "toast:grpc:broker:max_in_flight",
        "many",
        "toast.grpc.broker.max_in_flight must be an integer (got 'many')")]
    [InlineData(
        "toast:grpc:broker:heartbeat_interval_s",
        "soon",
        "toast.grpc.broker.heartbeat_interval_s must be a number (got 'soon')")]
    [InlineData("toast:grpc:queue:maxsize", "0", "toast.grpc.queue.maxsize must be at least 1 (got 0)")]
    [InlineData(
        "toast:grpc:retry:max_attempts",
        "-1",
        "toast.grpc.retry.max_attempts must be 0 (infinite) or more (got -1)")]
    [InlineData(
        "toast:grpc:retry:backoff_max_s",
        "0.05",
        "toast.grpc.retry.backoff_max_s must be at least toast.grpc.retry.backoff_base_s")]
    [InlineData("toast:native:path", "", "toast.native.path must not be empty when toast.native.enabled is true")]
    [InlineData("gateway:port", "70000", "gateway.port must be between 0 and 65535 (got 70000)")]
    [InlineData(
        "gateway:host",
        "not-an-address",
        "gateway.host must be \"*\", \"localhost\" or an IP address (got 'not-an-address')")]
    [InlineData("gateway:state_dir", " ", "gateway.state_dir must not be empty")]
    public async Task StartAsync_InvalidValue_FailsNamingTheKey(string key, string value, string expected)
    {
        var settings = new GatewaySettings();
        settings.Config[key] = value;
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_ConfigFileWithFloatsAndUnknownKeys_MapsOntoBrokerOptions()
    {
        var dir = GatewayFixture.NewTempDir();
        var file = Path.Combine(dir, "custom.yml");
        await File.WriteAllTextAsync(file, """
            toast:
              grpc:
                broker:
                  replay_size: 50
                  ack_timeout_s: 0.5
                  heartbeat_interval_s: 0.2
                  redelivery_delay_s: 0.1
                  not_a_key: 3
            something_else:
              entirely: true
            """);

        await using var gateway = await GatewayFixture.StartAsync(s => s.Args.AddRange(["--config", file]));

        var toast = gateway.App.Services.GetRequiredService<IOptions<ToastOptions>>().Value;
        var broker = toast.Grpc.Broker.ToBrokerOptions();
        Assert.Equal(50, broker.ReplaySize);
        Assert.Equal(0.5, broker.AckTimeoutSeconds);
        Assert.Equal(0.2, broker.HeartbeatIntervalSeconds);
        Assert.Equal(0.1, broker.RedeliveryDelaySeconds);
        Assert.Equal(100, broker.MaxInFlight); // not in the file: the default
        Assert.Contains(
            gateway.Logs.Entries,
            e => e.EventId.Id == 3002 && e.Message.Contains(file, StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartAsync_EnvironmentConfigVariable_UsesThatFile()
    {
        var file = Path.Combine(GatewayFixture.NewTempDir(), "from-env.yml");
        await File.WriteAllTextAsync(file, "toast:\n  grpc:\n    broker:\n      replay_size: 7\n");

        await using var gateway = await GatewayFixture.StartAsync(s => s.Environment["MARIE_EVENTS_CONFIG"] = file);

        Assert.Equal(7, gateway.App.Services.GetRequiredService<IOptions<ToastOptions>>().Value.Grpc.Broker.ReplaySize);
    }

    [Fact]
    public async Task StartAsync_EmbeddedDefault_HasTheSeedValues()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        var toast = gateway.App.Services.GetRequiredService<IOptions<ToastOptions>>().Value;
        var broker = toast.Grpc.Broker;
        Assert.True(toast.Native.Enabled);
        Assert.True(toast.Grpc.Enabled);
        Assert.Equal(
            (200, 100, 30.0, 15.0, 5.0, 80, 5),
            (broker.ReplaySize,
                broker.MaxInFlight,
                broker.AckTimeoutSeconds,
                broker.HeartbeatIntervalSeconds,
                broker.RedeliveryDelaySeconds,
                broker.BackpressureThresholdPct,
                broker.MaxRedeliveryAttempts));
        Assert.Equal((4096, false), (toast.Grpc.Queue.MaxSize, toast.Grpc.Queue.DropIfFull));
        Assert.Equal(
            (0.1, 2.0, 0),
            (toast.Grpc.Retry.BackoffBaseSeconds, toast.Grpc.Retry.BackoffMaxSeconds, toast.Grpc.Retry.MaxAttempts));
        var host = gateway.App.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        Assert.Equal(("127.0.0.1", 0, 0), (host.Host, host.Port, host.AdminPort)); // the fixture's overrides
        Assert.Contains(
            gateway.Logs.Entries,
            e => e.EventId.Id == 3002 && e.Message.Contains("embedded default", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartAsync_Default_LogsTheToastHandlers()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        var grpc = Assert.Single(gateway.Logs.Entries, e => e.EventId.Id == 5001);
        var native = Assert.Single(gateway.Logs.Entries, e => e.EventId.Id == 5002);
        Assert.Equal(LogLevel.Information, grpc.Level);
        Assert.Contains("queue maxsize 4096", grpc.Message, StringComparison.Ordinal);
        Assert.Contains(
            Path.Combine(gateway.StateDir, "native-events.jsonl"),
            native.Message,
            StringComparison.Ordinal);
        Assert.DoesNotContain(gateway.Logs.Entries, e => e.EventId.Id == 3003);
    }

    [Fact]
    public void Build_MissingConfigFile_ThrowsNamingThePath()
    {
        var missing = Path.Combine(GatewayFixture.NewTempDir(), "nope.yml");
        var settings = new GatewaySettings();
        settings.Args.AddRange(["--config", missing]);

        var error = Assert.Throws<GatewayConfigurationException>(() => GatewayFixture.Build(settings));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_ConfigArgumentWithoutPath_Throws()
    {
        var settings = new GatewaySettings();
        settings.Args.Add("--config");

        var error = Assert.Throws<GatewayConfigurationException>(() => GatewayFixture.Build(settings));

        Assert.Contains("--config needs a file path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_MalformedYaml_ThrowsNamingTheFile()
    {
        var file = Path.Combine(GatewayFixture.NewTempDir(), "broken.yml");
        await File.WriteAllTextAsync(file, "toast:\n  grpc: [unclosed\n");
        var settings = new GatewaySettings();
        settings.Args.Add($"--config={file}");

        var error = Assert.Throws<GatewayConfigurationException>(() => GatewayFixture.Build(settings));

        Assert.Contains(file, error.Message, StringComparison.Ordinal);
    }
}
