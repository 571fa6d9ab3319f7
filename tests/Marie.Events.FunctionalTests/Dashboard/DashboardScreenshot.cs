using System.Drawing;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using OpenQA.Selenium;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Dashboard;

/// <summary>The screenshot in docs/operations.md (docs/images/dashboard.png), taken by hand:
/// <c>MARIE_DASHBOARD_SCREENSHOT=$PWD/docs/images/dashboard.png dotnet test tests/Marie.Events.FunctionalTests
/// -c Release --filter "FullyQualifiedName~DashboardBrowserTests.Dashboard_AdminKeyAfterPublish"</c>. Runs a minute
/// of traffic at a varying rate on a few topics, with one subscriber acknowledging, so the chart has something to
/// show, then saves the whole page.</summary>
internal static class DashboardScreenshot
{
    public const string Variable = "MARIE_DASHBOARD_SCREENSHOT";

    /// <summary>A minute of traffic: a fifth of the chart's five minutes, enough to show both lines.</summary>
    private static readonly TimeSpan TrafficFor = TimeSpan.FromSeconds(60);

    /// <summary>One publish round every 200 ms.</summary>
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);

    private static readonly string[] Topics = ["tenant-a", "tenant-b", "billing"];

    public static async Task TakeAsync(GatewayFixture gateway, DashboardBrowser browser, string path)
    {
        using var cts = new CancellationTokenSource();
        using var consumer = gateway.Streams.StreamEvents(LongCall(gateway.Keys.Subscriber, cts.Token));
        await consumer.RequestStream.WriteAsync(Streams.Subscribe("invoices", Topics));
        await Streams.NextAsync(consumer.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        var acking = AckAllAsync(consumer, cts.Token);
        using var laggard = gateway.Streams.StreamEvents(LongCall(gateway.Keys.Admin, cts.Token));
        await laggard.RequestStream.WriteAsync(Streams.Subscribe("audit-export", "billing"));

        using var timer = new PeriodicTimer(Tick);
        var started = DateTime.UtcNow;
        var round = 0;
        while (DateTime.UtcNow - started < TrafficFor && await timer.WaitForNextTickAsync())
        {
            // A rate that swings between about 5 and 45 events/s per topic, so the chart is not a flat line.
            var burst = 1 + (int)(4 * (1 + Math.Sin(round++ / 15.0)));
            foreach (var topic in Topics)
            {
                for (var i = 0; i < (topic == "billing" ? 1 : burst); i++)
                {
                    var name = topic == "billing" ? "invoice.created" : "extract.completed";
                    await gateway.Publisher.PublishAsync(
                        new PublishRequest { Event = Streams.Event(topic, name) },
                        GatewayFixture.Auth(gateway.Keys.Publisher));
                }
            }
        }

        // The whole page in one picture, at the laptop width the browser was started with: the window is the page's
        // height plus whatever the window has around its viewport.
        var height = Convert.ToInt32(
            browser.Driver.ExecuteScript(
                "return document.documentElement.scrollHeight + (window.outerHeight - window.innerHeight);"),
            System.Globalization.CultureInfo.InvariantCulture);
        browser.Driver.Manage().Window.Size = new Size(browser.Driver.Manage().Window.Size.Width, height);
        browser.WaitUntil(
            _ => browser.CellText("tr[data-subscription='invoices']", "key") == "test-subscriber",
            TimeSpan.FromSeconds(10),
            "the consumer's row");
        browser.Driver.GetScreenshot().SaveAsFile(path);
        await cts.CancelAsync();
        try
        {
            await acking;
        }
        catch (Exception ex) when (ex is OperationCanceledException or RpcException)
        {
            // The consumer's loop ends with the test.
        }
    }

    /// <summary>A stream outliving the traffic (<see cref="GatewayFixture.Auth"/> gives calls a 10 s deadline).
    /// </summary>
    private static CallOptions LongCall(string key, CancellationToken cancellationToken) => new(
        headers: new Metadata { { "authorization", $"Bearer {key}" } },
        deadline: DateTime.UtcNow.Add(TrafficFor * 3),
        cancellationToken: cancellationToken);

    private static async Task AckAllAsync(
        AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call,
        CancellationToken cancellationToken)
    {
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            if (call.ResponseStream.Current.Event is { } delivered)
            {
                await call.RequestStream.WriteAsync(new ClientMessage
                {
                    Ack = new AckMessage
                    {
                        SubscriptionId = delivered.SubscriptionId,
                        Individual = new IndividualAck { AckIds = { delivered.AckId } },
                    },
                }, cancellationToken);
            }
        }
    }
}
