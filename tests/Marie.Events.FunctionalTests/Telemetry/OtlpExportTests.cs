using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.FunctionalTests.Tracing;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Telemetry;

/// <summary>OTLP export of the metrics and spans to <c>gateway.telemetry.otlp_endpoint</c>, received by a loopback
/// HTTP listener of the test's own (OTLP over HTTP: protobuf bodies POSTed to <c>/v1/metrics</c> and
/// <c>/v1/traces</c>).</summary>
[Collection(TraceListenerGroup.Name)]
public sealed class OtlpExportTests
{
    [Fact]
    public async Task Otlp_HttpProtobufEndpoint_MetricsAndSpansPosted()
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
        var traceId = ActivityTraceId.CreateRandom();
        var traced = Streams.Event("otlp-topic");
        traced.TraceContext = new TraceContext { Traceparent = $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01" };
        await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = traced },
            GatewayFixture.Auth(gateway.Keys.Publisher));

        using var timeout = new CancellationTokenSource(GatewayFixture.Timeout);
        var seen = new List<string>();
        string? metrics = null;
        string? spans = null;
        while (metrics is null || spans is null)
        {
            var context = await listener.GetContextAsync().WaitAsync(timeout.Token);
            using var memory = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(memory, timeout.Token);
            var path = context.Request.Url!.AbsolutePath;
            seen.Add($"{context.Request.HttpMethod} {path} {context.Request.ContentType}");
            // An empty Export*ServiceResponse: everything accepted.
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
            var bytes = memory.ToArray();
            var text = Encoding.UTF8.GetString(bytes);
            if (path == "/v1/metrics" && text.Contains("marie.events.published", StringComparison.Ordinal))
            {
                metrics = text;
            }

            // OTLP carries trace ids as 16 raw bytes.
            if (path == "/v1/traces" && text.Contains("send otlp-topic", StringComparison.Ordinal)
                && bytes.AsSpan().IndexOf(Convert.FromHexString(traceId.ToHexString())) >= 0)
            {
                spans = text;
            }
        }

        Assert.All(seen, s => Assert.Matches(
            "^POST /v1/(metrics|traces) application/x-protobuf", s));
        Assert.Contains("marie-events-gateway", metrics, StringComparison.Ordinal);
        Assert.Contains("marie.events.delivered", metrics, StringComparison.Ordinal);
        Assert.Contains("messaging.destination.name", spans, StringComparison.Ordinal);
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
