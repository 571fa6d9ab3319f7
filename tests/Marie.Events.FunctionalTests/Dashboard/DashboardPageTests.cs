using System.Net;
using System.Text.RegularExpressions;
using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.FunctionalTests.Dashboard;

/// <summary><c>GET /dashboard</c> over plain HTTP: the embedded page, its headers, and where it is served.</summary>
public sealed partial class DashboardPageTests : IAsyncLifetime
{
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync() => _gateway = await GatewayFixture.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task GetDashboard_NoKey_ServesPageWithSelfOnlyPolicy()
    {
        using var response = await _gateway.Admin.GetAsync("/dashboard");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", policy, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("http", policy, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        var html = await response.Content.ReadAsStringAsync();
        Assert.Matches(PasswordInput(), html);
        Assert.Contains("type=\"submit\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetDashboard_Page_HasNoInlineScriptStyleOrForeignOrigin()
    {
        var html = await _gateway.Admin.GetStringAsync("/dashboard");
        var script = await _gateway.Admin.GetStringAsync("/dashboard/dashboard.js");
        var style = await _gateway.Admin.GetStringAsync("/dashboard/dashboard.css");

        Assert.All(
            ScriptTags().Matches(html),
            tag => Assert.Contains(" src=\"/dashboard/", tag.Value, StringComparison.Ordinal));
        Assert.DoesNotMatch(InlineHandler(), html);
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" style=", html, StringComparison.OrdinalIgnoreCase);
        foreach (var text in new[] { html, script, style })
        {
            Assert.DoesNotContain("http://", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("https://", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("//cdn", text, StringComparison.OrdinalIgnoreCase);
        }

        // The script reads the figures from the admin API, with the key as a bearer token.
        Assert.Contains("/internal/subscriptions", script, StringComparison.Ordinal);
        Assert.Contains("\"Bearer \"", script, StringComparison.Ordinal);
        Assert.Contains("sessionStorage", script, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/dashboard/dashboard.js", "text/javascript")]
    [InlineData("/dashboard/dashboard.css", "text/css")]
    public async Task GetDashboardAsset_NoKey_ServedWithItsType(string path, string mediaType)
    {
        using var response = await _gateway.Admin.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.True((await response.Content.ReadAsByteArrayAsync()).Length > 0);
    }

    [Fact]
    public async Task GetDashboard_UnknownAsset_NotFound()
    {
        using var response = await _gateway.Admin.GetAsync("/dashboard/other.js");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("/dashboard")]
    [InlineData("/dashboard/dashboard.js")]
    public async Task GetDashboard_OnGrpcPort_NotFound(string path)
    {
        using var client = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{_gateway.Ports.Grpc}"),
            Timeout = GatewayFixture.Timeout,
        };
        using var request = new HttpRequestMessage(HttpMethod.Get, path)
        {
            // h2c with prior knowledge: the gRPC port speaks HTTP/2 only.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [GeneratedRegex("<input[^>]*id=\"admin-key\"[^>]*type=\"password\"")]
    private static partial Regex PasswordInput();

    [GeneratedRegex("<script[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTags();

    [GeneratedRegex("\\son[a-z]+\\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineHandler();
}
