using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Gateway;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marie.Events.FunctionalTests;

/// <summary><c>MARIE_LOG_LEVEL</c>.</summary>
public sealed class LoggingTests
{
    [Theory]
    [InlineData(null, LogLevel.Information)]
    [InlineData("DEBUG", LogLevel.Debug)]
    [InlineData("info", LogLevel.Information)]
    [InlineData("Warning", LogLevel.Warning)]
    [InlineData("WARN", LogLevel.Warning)]
    [InlineData("error", LogLevel.Error)]
    [InlineData("Trace", LogLevel.Trace)]
    [InlineData("Critical", LogLevel.Critical)]
    public async Task StartAsync_LogLevelVariable_SetsTheMinimumLevel(string? value, LogLevel expected)
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.Environment["MARIE_LOG_LEVEL"] = value);

        var logger = gateway.App.Services.GetRequiredService<ILoggerFactory>().CreateLogger(
            "Marie.Events.Gateway.Test");
        Assert.True(logger.IsEnabled(expected));
        if (expected > LogLevel.Trace)
        {
            Assert.False(logger.IsEnabled(expected - 1));
        }
    }

    [Fact]
    public async Task StartAsync_LogLevelWarning_InformationLinesNotWritten()
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.Environment["MARIE_LOG_LEVEL"] = "WARNING");

        Assert.DoesNotContain(gateway.Logs.Entries, e => e.EventId.Id == 5001);
    }

    [Fact]
    public void Build_UnknownLogLevel_ThrowsNamingTheVariable()
    {
        var settings = new GatewaySettings();
        settings.Environment["MARIE_LOG_LEVEL"] = "LOUD";

        var error = Assert.Throws<GatewayConfigurationException>(() => GatewayFixture.Build(settings));

        Assert.Contains("MARIE_LOG_LEVEL", error.Message, StringComparison.Ordinal);
        Assert.Contains("'LOUD'", error.Message, StringComparison.Ordinal);
    }
}
