using System.Net;
using System.Net.Sockets;
using System.Text;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Telemetry;

/// <summary>OTLP export of the metrics to <c>gateway.telemetry.otlp_endpoint</c>, received by a loopback HTTP
/// listener of the test's own (OTLP over HTTP: protobuf bodies POSTed to <c>/v1/metrics</c>).</summary>
public sealed class OtlpExportTests
{
    [Fact]
    public async Task Otlp_HttpProtobufEndpoint_MetricsPostedWithOurInstruments()
    {
        var port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["gateway:telemetry:otlp_endpoint"] = $"http://127.0.0.1:{port}";
            s.Config["gateway:telemetry:otlp_protocol"] = "http/protobuf";
            // A short interval: the export is waited for, not slept for.
            s.Config["gateway:telemetry:otlp_export_interval_s"] = "0.2";
        });
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event("otlp-topic") },
            GatewayFixture.Auth(gateway.Keys.Publisher));

        using var timeout = new CancellationTokenSource(GatewayFixture.Timeout);
        var seen = new List<string>();
        string? body = null;
        while (body is null)
        {
            var context = await listener.GetContextAsync().WaitAsync(timeout.Token);
            using var memory = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(memory, timeout.Token);
            var path = context.Request.Url!.AbsolutePath;
            seen.Add($"{context.Request.HttpMethod} {path} {context.Request.ContentType}");
            // An empty ExportMetricsServiceResponse: everything accepted.
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
            var text = Encoding.UTF8.GetString(memory.ToArray());
            if (path == "/v1/metrics" && text.Contains("marie.events.published", StringComparison.Ordinal))
            {
                body = text;
            }
        }

        Assert.All(seen, s => Assert.StartsWith(
            "POST /v1/metrics application/x-protobuf", s, StringComparison.Ordinal));
        Assert.Contains("marie-events-gateway", body, StringComparison.Ordinal);
        Assert.Contains("marie.events.delivered", body, StringComparison.Ordinal);
        Assert.Contains(gateway.Logs.Entries, e => e.EventId.Id == 9000 && e.Message.Contains(
            $"OTLP http://127.0.0.1:{port}", StringComparison.Ordinal));
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
