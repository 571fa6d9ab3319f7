using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Telemetry;

/// <summary><c>marie.events.redis.duration</c> in cluster mode, on a <c>redis-server</c> of the test's own.</summary>
public sealed class RedisDurationTests
{
    [Fact]
    public async Task Metrics_ClusterMode_RedisDurationOfEachAppend()
    {
        var port = FreePort();
        using var redis = StartRedis(port);
        try
        {
            await WaitForPongAsync(port);
            await using var gateway = await GatewayFixture.StartAsync(s =>
            {
                s.Config["toast:grpc:broker:backend"] = "redis";
                s.Config["toast:grpc:broker:redis:connection"] = $"127.0.0.1:{port}";
            });
            for (var i = 0; i < 2; i++)
            {
                await gateway.Publisher.PublishAsync(
                    new PublishRequest { Event = Streams.Event("redis-topic") },
                    GatewayFixture.Auth(gateway.Keys.Publisher));
            }

            var samples = await MetricsEndpointTests.ScrapeUntilAsync(
                gateway, s => s.Value("marie_events_published_total") == 2);

            // The lane may file the two events as one batch or two: one append each.
            var appends = samples.Value("marie_events_redis_duration_seconds_count", "operation=append");
            Assert.InRange(appends ?? 0, 1, 2);
            Assert.True(samples.Value("marie_events_redis_duration_seconds_sum", "operation=append") > 0);
        }
        finally
        {
            redis.Kill(entireProcessTree: true);
            await redis.WaitForExitAsync();
        }
    }

    private static Process StartRedis(int port)
    {
        var info = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])
            ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no"])
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new Xunit.Sdk.XunitException("redis-server did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Asks PING on a timer until the server answers +PONG, failing after the fixture's timeout.</summary>
    private static async Task WaitForPongAsync(int port)
    {
        using var timeout = new CancellationTokenSource(GatewayFixture.Timeout);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        do
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
                var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray(), timeout.Token);
                var buffer = new byte[16];
                var read = await stream.ReadAsync(buffer, timeout.Token);
                if (Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (SocketException)
            {
                // Not listening yet.
            }
            catch (IOException)
            {
                // Closed while starting.
            }
        }
        while (await poll.WaitForNextTickAsync(timeout.Token));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
