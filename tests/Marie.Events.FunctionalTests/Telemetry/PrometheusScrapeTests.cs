using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Telemetry;

/// <summary>A real Prometheus scrapes the gateway's <c>/metrics</c> with the admin key and answers queries with
/// what the gateway counted.</summary>
public sealed class PrometheusScrapeTests
{
    /// <summary>Prometheus's start, first scrape (1 s interval) and query, on a loaded 2-core machine.</summary>
    private static readonly TimeSpan ScrapeTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How often the query is asked again: a tenth of the scrape interval.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task Prometheus_ScrapesWithTheAdminKey_PublishedTotalAsPublished()
    {
        const int published = 7;
        await using var gateway = await GatewayFixture.StartAsync();
        for (var i = 0; i < published; i++)
        {
            await gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event("prometheus-topic") },
                GatewayFixture.Auth(gateway.Keys.Publisher));
        }

        await using var prometheus = PrometheusServer.Start($"127.0.0.1:{gateway.Ports.Admin}", gateway.Keys.Admin);

        // Polls the condition (a query) on a timer until it holds or the timeout passes.
        using var timeout = new CancellationTokenSource(ScrapeTimeout);
        using var poll = new PeriodicTimer(PollInterval);
        var seen = await prometheus.QueryAsync("sum(marie_events_published_total)");
        while (seen != published && await Tick(poll, timeout.Token))
        {
            seen = await prometheus.QueryAsync("sum(marie_events_published_total)");
        }

        Assert.True(
            seen == published,
            $"Prometheus answered {seen?.ToString() ?? "nothing"} for marie_events_published_total "
            + $"(expected {published}); its output:\n{prometheus.Output}");
        Assert.Equal(1, await prometheus.QueryAsync("up{job=\"marie-events\"}"));
        Assert.Equal(1, await prometheus.QueryAsync("sum(marie_events_topics)"));
    }

    /// <summary>False once <paramref name="token"/> is cancelled.</summary>
    private static async Task<bool> Tick(PeriodicTimer poll, CancellationToken token)
    {
        try
        {
            return await poll.WaitForNextTickAsync(token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
