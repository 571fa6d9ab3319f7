using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using Marie.Events.FunctionalTests.Infrastructure;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.DependencyInjection;
using static Grpc.Health.V1.HealthCheckResponse.Types;

namespace Marie.Events.FunctionalTests;

/// <summary>grpc.health.v1.Health and server reflection: open without a key.</summary>
public sealed class HealthAndReflectionTests
{
    private const string StreamService = "marieai.events.EventStreamService";
    private const string PublisherService = "marieai.events.EventPublisherService";

    [Theory]
    [InlineData("")]
    [InlineData(StreamService)]
    [InlineData(PublisherService)]
    public async Task HealthCheck_AfterStart_Serving(string service)
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var health = new Health.HealthClient(gateway.Channel);

        var reply = await health.CheckAsync(new HealthCheckRequest { Service = service }, GatewayFixture.Auth(null));

        Assert.Equal(ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task HealthWatch_ApplicationStopping_NotServing()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var health = new Health.HealthClient(gateway.Channel);
        using var cts = new CancellationTokenSource(GatewayFixture.Timeout);
        using var watch = health.Watch(
            new HealthCheckRequest { Service = StreamService },
            cancellationToken: cts.Token);
        await Streams.ReadUntilAsync(watch.ResponseStream, r => r.Status == ServingStatus.Serving);

        gateway.App.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();

        await Streams.ReadUntilAsync(watch.ResponseStream, r => r.Status == ServingStatus.NotServing);
        var overall = await health.CheckAsync(new HealthCheckRequest(), GatewayFixture.Auth(null));
        Assert.Equal(ServingStatus.NotServing, overall.Status);
        await cts.CancelAsync();
    }

    [Fact]
    public async Task HealthCheck_GrpcDisabled_StreamServiceUnknownPublisherServing()
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.Config["toast:grpc:enabled"] = "false");
        var health = new Health.HealthClient(gateway.Channel);

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            health.CheckAsync(
                new HealthCheckRequest { Service = StreamService },
                GatewayFixture.Auth(null)).ResponseAsync);
        var overall = await health.CheckAsync(new HealthCheckRequest(), GatewayFixture.Auth(null));
        var publisher = await health.CheckAsync(
            new HealthCheckRequest { Service = PublisherService },
            GatewayFixture.Auth(null));

        Assert.Equal(StatusCode.NotFound, error.StatusCode); // SERVICE_UNKNOWN
        Assert.Equal(ServingStatus.Serving, overall.Status);
        Assert.Equal(ServingStatus.Serving, publisher.Status);
        Assert.Contains(gateway.Logs.Entries, e => e.EventId.Id == 3004);
    }

    [Fact]
    public async Task ReflectionListServices_Default_ListsEventStreamHealthAndPublisher()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        var services = await ListServicesAsync(gateway);

        Assert.Contains(StreamService, services);
        Assert.Contains(PublisherService, services);
        Assert.Contains("grpc.health.v1.Health", services);
        Assert.Contains("marieai.events.DurableService", services);
    }

    [Fact]
    public async Task ReflectionListServices_GrpcDisabled_NoStreamServicePublisherListed()
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.Config["toast:grpc:enabled"] = "false");

        var services = await ListServicesAsync(gateway);

        Assert.DoesNotContain(StreamService, services);
        Assert.Contains(PublisherService, services);
        Assert.Contains("grpc.health.v1.Health", services);
    }

    [Fact]
    public async Task ReflectionFileContainingSymbol_EventStreamService_DescribesIt()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        var reflection = new ServerReflection.ServerReflectionClient(gateway.Channel);
        using var call = reflection.ServerReflectionInfo(GatewayFixture.Auth(null));

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = StreamService });
        await call.RequestStream.CompleteAsync();
        var reply = await Streams.ReadUntilAsync(call.ResponseStream, _ => true);

        Assert.NotEmpty(reply.FileDescriptorResponse.FileDescriptorProto);
    }

    private static async Task<List<string>> ListServicesAsync(GatewayFixture gateway)
    {
        var reflection = new ServerReflection.ServerReflectionClient(gateway.Channel);
        using var call = reflection.ServerReflectionInfo(GatewayFixture.Auth(null));
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        var reply = await Streams.ReadUntilAsync(call.ResponseStream, _ => true);
        return [.. reply.ListServicesResponse.Service.Select(s => s.Name)];
    }
}
