using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using OpenQA.Selenium;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.Dashboard;

/// <summary>The dashboard in a real browser (Debian's headless chromium through Selenium) against the real gateway.
/// </summary>
public sealed class DashboardBrowserTests : IAsyncLifetime
{
    /// <summary>The page polls every second; this leaves room for a loaded machine.</summary>
    private static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(20);

    private GatewayFixture _gateway = null!;
    private DashboardBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await GatewayFixture.StartAsync();
        _browser = DashboardBrowser.Start();
    }

    public async Task DisposeAsync()
    {
        _browser?.Dispose();
        await _gateway.DisposeAsync();
    }

    private string DashboardUrl => $"http://127.0.0.1:{_gateway.Ports.Admin}/dashboard";

    [Fact]
    public async Task Dashboard_AdminKeyAfterPublish_ShowsTopicAndSubscriptionWithTheirCounts()
    {
        using var call = _gateway.Streams.StreamEvents(GatewayFixture.Auth(_gateway.Keys.Subscriber));
        await call.RequestStream.WriteAsync(Streams.Subscribe("browser-sub", "browser-topic"));
        await Streams.NextAsync(call.ResponseStream, MessageOneofCase.SubscriptionConfirm);
        await PublishAsync("browser-topic", 3);
        // Three deliveries read, none acknowledged: in flight 3, lag 3.
        await Streams.ReadUntilAsync(call.ResponseStream, m => m.Event?.SequenceNum == 3);

        _browser.Driver.Navigate().GoToUrl(DashboardUrl);
        _browser.LogIn(_gateway.Keys.Admin);

        const string topicRow = "tr[data-topic='browser-topic']";
        const string subRow = "tr[data-subscription='browser-sub']";
        _browser.WaitUntil(_ => _browser.CellText(topicRow, "head") == "3", PageTimeout, "the topic's head 3");
        Assert.Equal("3", _browser.CellText(topicRow, "buffered"));
        _browser.WaitUntil(_ => _browser.CellText(subRow, "in-flight") == "3", PageTimeout, "3 in flight");
        Assert.Equal("3", _browser.CellText(subRow, "lag"));
        Assert.Equal("test-subscriber", _browser.CellText(subRow, "key"));
        Assert.Equal("browser-topic", _browser.CellText(subRow, "topics"));
        Assert.Equal("0", _browser.CellText(subRow, "redeliveries"));
        Assert.Equal(_gateway.Keys.Admin, _browser.StoredKey());
        Assert.Equal(
            "test-subscriber",
            _browser.CellText("#connections-body tr[data-connection-id]", "key"));

        // It refreshes by itself: two more events show without any action.
        await PublishAsync("browser-topic", 2);
        _browser.WaitUntil(_ => _browser.CellText(topicRow, "head") == "5", PageTimeout, "the topic's head 5");
        _browser.WaitUntil(_ => _browser.CellText(subRow, "lag") == "5", PageTimeout, "lag 5");

        // A reload keeps the key (the tab's sessionStorage): no login form.
        _browser.Driver.Navigate().Refresh();
        _browser.WaitUntil(_ => _browser.CellText(topicRow, "head") == "5", PageTimeout, "the board after a reload");
        Assert.False(_browser.Driver.FindElement(By.Id("login")).Displayed);

        if (Environment.GetEnvironmentVariable(DashboardScreenshot.Variable) is { Length: > 0 } path)
        {
            await DashboardScreenshot.TakeAsync(_gateway, _browser, path);
        }
    }

    [Fact]
    public void Dashboard_UnknownKey_Shows401MessageAndKeepsNoKey()
    {
        _browser.Driver.Navigate().GoToUrl(DashboardUrl);
        _browser.LogIn(TestKeys.NewKey());

        _browser.WaitUntil(_ => ErrorShown().Contains("401", StringComparison.Ordinal), PageTimeout, "the 401 message");
        Assert.Contains("does not know this key", ErrorShown(), StringComparison.Ordinal);
        Assert.False(_browser.Driver.FindElement(By.Id("board")).Displayed);
        Assert.Null(_browser.StoredKey());
    }

    [Fact]
    public void Dashboard_NonAdminKey_Shows403Message()
    {
        _browser.Driver.Navigate().GoToUrl(DashboardUrl);
        _browser.LogIn(_gateway.Keys.Subscriber);

        _browser.WaitUntil(_ => ErrorShown().Contains("403", StringComparison.Ordinal), PageTimeout, "the 403 message");
        Assert.Contains("role admin", ErrorShown(), StringComparison.Ordinal);
        Assert.DoesNotContain("401", ErrorShown(), StringComparison.Ordinal);
        Assert.False(_browser.Driver.FindElement(By.Id("board")).Displayed);
        Assert.Null(_browser.StoredKey());
    }

    private string ErrorShown()
    {
        var error = _browser.Driver.FindElement(By.Id("login-error"));
        return error.Displayed ? error.Text : "";
    }

    private async Task PublishAsync(string topic, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await _gateway.Publisher.PublishAsync(
                new PublishRequest { Event = Streams.Event(topic) },
                GatewayFixture.Auth(_gateway.Keys.Publisher));
        }
    }
}
