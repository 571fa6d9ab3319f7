using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Telemetry;

/// <summary><c>GET /metrics</c> on the admin port: the pinned Prometheus names with their values after a session,
/// and who may read it.</summary>
public sealed class MetricsEndpointTests
{
    private const string Topic = "metrics-topic";

    /// <summary>Scrapes <c>/metrics</c> with the admin key until <paramref name="ready"/> holds (the answer may
    /// lag the session by the exporter's short response cache), failing after the fixture's timeout.</summary>
    internal static async Task<List<PrometheusSample>> ScrapeUntilAsync(
        GatewayFixture gateway,
        Func<List<PrometheusSample>, bool> ready)
    {
        using var timeout = new CancellationTokenSource(GatewayFixture.Timeout);
        // The condition is checked on each answer, one scrape every 50 ms, until the timeout above.
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        var last = "";
        while (!timeout.IsCancellationRequested)
        {
            using var response = await GetMetricsAsync(gateway, gateway.Keys.Admin);
            response.EnsureSuccessStatusCode();
            last = await response.Content.ReadAsStringAsync();
            var samples = PrometheusText.Parse(last);
            if (ready(samples))
            {
                return samples;
            }

            try
            {
                await poll.WaitForNextTickAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        throw new Xunit.Sdk.XunitException($"/metrics never showed the expected figures; last answer:\n{last}");
    }

    internal static Task<HttpResponseMessage> GetMetricsAsync(GatewayFixture gateway, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return gateway.Admin.SendAsync(request);
    }

    [Fact]
    public async Task Metrics_AfterASession_PinnedNamesWithTheirValues()
    {
        // Every event's latencies, so that the histograms' counts are known.
        await using var gateway = await GatewayFixture.StartAsync(
            s => s.Config["gateway:telemetry:latency_sample_every"] = "1");
        using var call = gateway.Streams.StreamEvents(GatewayFixture.Auth(gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("s1", Topic));
        await Streams.NextAsync(call.ResponseStream, ServerMessage.MessageOneofCase.SubscriptionConfirm);
        for (var i = 0; i < 3; i++)
        {
            await gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event(Topic) },
                GatewayFixture.Auth(gateway.Keys.Publisher));
        }

        var delivered = new List<EventEnvelope>();
        for (var i = 0; i < 3; i++)
        {
            delivered.Add((await Streams.NextAsync(call.ResponseStream, ServerMessage.MessageOneofCase.Event)).Event);
        }

        await call.RequestStream.WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "s1",
                Individual = new IndividualAck { AckIds = { delivered[0].AckId, delivered[1].AckId } },
            },
        });
        using (var wrong = await GetMetricsAsync(gateway, TestKeys.NewKey()))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        var samples = await ScrapeUntilAsync(gateway, s => s.Value("marie_events_acked_total") == 2);

        var topic = $"topic={Topic}";
        Assert.Equal(3, samples.Value("marie_events_published_total"));
        Assert.Equal(3, samples.Value("marie_events_delivered_total", topic, "kind=live"));
        Assert.Equal(0, samples.Value("marie_events_delivered_total", topic, "kind=redelivery"));
        Assert.Equal(2, samples.Value("marie_events_acked_total"));
        Assert.Equal(0, samples.Value("marie_events_redelivered_total"));
        Assert.Equal(1, samples.Value("marie_events_subscriptions"));
        Assert.Equal(1, samples.Value("marie_events_connections"));
        Assert.Equal(1, samples.Value("marie_events_topics"));
        Assert.Equal(1, samples.Value("marie_events_streams"));
        Assert.Equal(1, samples.Value("marie_events_in_flight", topic));
        Assert.Equal(1, samples.Value("marie_events_subscription_lag", topic));
        Assert.Equal(3, samples.Value("marie_events_ring_buffered", topic));
        Assert.True(samples.Value("marie_events_oldest_unacked_age_seconds", topic) > 0);
        Assert.Equal(0, samples.Value("marie_events_toast_queue_depth"));
        Assert.Equal(0, samples.Value("marie_events_toast_retries_total"));
        Assert.Equal(0, samples.Value("marie_events_toast_gave_up_total"));
        Assert.Equal(0, samples.Value("marie_events_dropped_total"));
        Assert.Equal(0, samples.Value("marie_events_lost_total"));
        Assert.Equal(0, samples.Value("marie_events_dead_letters"));
        Assert.Equal(0, samples.Value("marie_events_dead_letters_oldest_age_seconds"));
        Assert.Equal(0, samples.Value("marie_events_dead_lettered_total", "reason=terminated"));
        Assert.Equal(0, samples.Value("marie_events_rate_limited_total"));
        Assert.Equal(0, samples.Value("marie_events_backpressure_signals_total"));
        Assert.Equal(1, samples.Value("marie_events_auth_failures_total"));
        Assert.Equal(3, samples.Value("marie_events_publish_duration_seconds_count"));
        Assert.Equal(3, samples.Value("marie_events_publish_duration_seconds_bucket", "le=+Inf"));
        Assert.Equal(3, samples.Value("marie_events_delivery_latency_seconds_count"));
        Assert.Equal(2, samples.Value("marie_events_ack_latency_seconds_count"));
        // Kestrel's and ASP.NET Core's own meters, beside ours.
        Assert.Contains(samples, s => s.Name.StartsWith("kestrel_", StringComparison.Ordinal));
        Assert.Contains(samples, s => s.Name.StartsWith("http_server_request_duration", StringComparison.Ordinal));
        // Never a subscription or connection id as a label.
        Assert.DoesNotContain(samples, s => s.Labels.Values.Contains("s1"));
        Assert.DoesNotContain(
            samples, s => s.Labels.ContainsKey("subscription_id") || s.Labels.ContainsKey("connection"));
    }

    [Fact]
    public async Task Metrics_Keys_NoneOrWrongUnauthorizedNonAdminForbidden()
    {
        await using var gateway = await GatewayFixture.StartAsync();

        using var none = await GetMetricsAsync(gateway, null);
        using var wrong = await GetMetricsAsync(gateway, TestKeys.NewKey());
        using var disabled = await GetMetricsAsync(gateway, gateway.Keys.Disabled);
        using var subscriber = await GetMetricsAsync(gateway, gateway.Keys.Subscriber);
        using var publisher = await GetMetricsAsync(gateway, gateway.Keys.Publisher);
        using var admin = await GetMetricsAsync(gateway, gateway.Keys.Admin);

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, disabled.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, subscriber.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, publisher.StatusCode);
        Assert.DoesNotContain("marie_events", await none.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("marie_events", await subscriber.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        Assert.Contains("marie_events_connections", await admin.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_Anonymous_ServedWithoutAKey()
    {
        await using var gateway = await GatewayFixture.StartAsync(
            s => s.Config["gateway:telemetry:metrics_anonymous"] = "true");

        using var response = await GetMetricsAsync(gateway, null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("marie_events_subscriptions", await response.Content.ReadAsStringAsync(),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_OnGrpcPort_NotFound()
    {
        await using var gateway = await GatewayFixture.StartAsync();
        using var client = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{gateway.Ports.Grpc}"),
            Timeout = GatewayFixture.Timeout,
        };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics")
        {
            // h2c with prior knowledge: the gRPC port speaks HTTP/2 only.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Authorization = new("Bearer", gateway.Keys.Admin);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Metrics_TelemetryDisabled_NoEndpointAndStillServes()
    {
        await using var gateway = await GatewayFixture.StartAsync(
            s => s.Config["gateway:telemetry:enabled"] = "false");

        using var response = await GetMetricsAsync(gateway, gateway.Keys.Admin);
        var published = await gateway.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event(Topic) },
            GatewayFixture.Auth(gateway.Keys.Publisher));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(1, published.SequenceNum);
        Assert.Contains(gateway.Logs.Entries, e => e.EventId.Id == 9001);
    }

    [Theory]
    [InlineData("max_topic_labels", "-1")]
    [InlineData("trace_sample_ratio", "2")]
    [InlineData("latency_sample_every", "0")]
    [InlineData("otlp_endpoint", "collector:4317")]
    [InlineData("enabled", "maybe")]
    [InlineData("otlp_protocol", "http/json")]
    [InlineData("otlp_export_interval_s", "0")]
    public async Task Start_BadTelemetryValue_FailsNamingTheKey(string key, string value)
    {
        var settings = new GatewaySettings();
        settings.Config[$"gateway:telemetry:{key}"] = value;
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains($"gateway.telemetry.{key}", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_TwoGatewaysInOneProcess_EachExportsItsOwn()
    {
        await using var first = await GatewayFixture.StartAsync();
        await using var second = await GatewayFixture.StartAsync();
        await first.Publisher.PublishAsync(
            new PublishRequest { Event = Streams.Event(Topic) },
            GatewayFixture.Auth(first.Keys.Publisher));

        var fromFirst = await ScrapeUntilAsync(first, s => s.Value("marie_events_published_total") == 1);
        var fromSecond = await ScrapeUntilAsync(second, s => s.Value("marie_events_published_total") is not null);

        Assert.Equal(1, fromFirst.Value("marie_events_topics"));
        Assert.Equal(0, fromSecond.Value("marie_events_published_total"));
        Assert.Equal(0, fromSecond.Value("marie_events_topics"));
    }
}
