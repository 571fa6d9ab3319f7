using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.Cli.Tests;

/// <summary>A real gateway on loopback per test, and a runner for the CLI against it.</summary>
public abstract class CliTestBase : IAsyncLifetime
{
    protected GatewayFixture Gateway { get; private set; } = null!;

    protected CliRunner Cli { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gateway = await GatewayFixture.StartAsync();
        Cli = new CliRunner(Gateway);
    }

    public async Task DisposeAsync() => await Gateway.DisposeAsync();
}
