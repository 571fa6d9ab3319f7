using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.Client.Tests.Cluster;

/// <summary>Start-up checks of toast.grpc.broker.backend and toast.grpc.broker.redis.*.</summary>
public sealed class ClusterConfigurationTests
{
    [Theory]
    [InlineData("postgres", null, null, "toast.grpc.broker.backend must be memory, file or redis")]
    [InlineData("redis", null, null, "toast.grpc.broker.redis.connection is required")]
    [InlineData("redis", "127.0.0.1:1", "has space", "toast.grpc.broker.redis.key_prefix must be 1 to 64 characters")]
    [InlineData("redis", "127.0.0.1:1", "a{b}:", "toast.grpc.broker.redis.key_prefix must be 1 to 64 characters")]
    [InlineData("redis", "127.0.0.1:1", null, "toast.grpc.broker.redis.pipeline_depth must be 1 to 256", "0")]
    [InlineData("redis", "127.0.0.1:1", null, "toast.grpc.broker.redis.ack_replicas must be 0 or more", null, "-1")]
    public async Task Start_InvalidClusterSetting_FailsNamingTheKey(
        string backend,
        string? connection,
        string? prefix,
        string expected,
        string? pipelineDepth = null,
        string? ackReplicas = null)
    {
        var settings = new GatewaySettings();
        settings.Config["toast:grpc:broker:backend"] = backend;
        settings.Config["toast:grpc:broker:redis:connection"] = connection;
        if (prefix is not null)
        {
            settings.Config["toast:grpc:broker:redis:key_prefix"] = prefix;
        }

        settings.Config["toast:grpc:broker:redis:pipeline_depth"] = pipelineDepth;
        settings.Config["toast:grpc:broker:redis:ack_replicas"] = ackReplicas;

        await using var app = GatewayFixture.Build(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_UnknownIoThreads_FailsNamingTheKey()
    {
        var settings = new GatewaySettings();
        settings.Config["toast:grpc:broker:backend"] = "redis";
        settings.Config["toast:grpc:broker:redis:connection"] = "127.0.0.1:1";
        settings.Config["toast:grpc:broker:redis:io_threads"] = "threads";

        await using var app = GatewayFixture.Build(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());
        Assert.Contains(
            "toast.grpc.broker.redis.io_threads must be pool or dedicated (got 'threads')",
            error.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_RedisNotReachable_FailsNamingTheConnection()
    {
        var port = RedisServer.FreePort();
        var settings = new GatewaySettings();
        settings.Config["toast:grpc:broker:backend"] = "redis";
        // Nothing listens there; a short connect timeout keeps the test quick.
        settings.Config["toast:grpc:broker:redis:connection"] = $"127.0.0.1:{port},connectTimeout=500,connectRetry=1";

        await using var app = GatewayFixture.Build(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());
        Assert.Contains("toast.grpc.broker.redis.connection", error.Message, StringComparison.Ordinal);
        Assert.Contains("cannot be reached", error.Message, StringComparison.Ordinal);
    }
}
