using System.Diagnostics;
using System.Text.Json;
using Marie.Events.Broker;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.FunctionalTests;

/// <summary>
/// Marie-AI's own Python test client (the seed's, changed only to stop after N events) against the real gateway,
/// with Debian's python3-grpcio and stubs generated from our proto by protoc and grpc_python_plugin.
/// </summary>
public sealed class PythonInteropTests
{
    /// <summary>Debian's python3: python3-grpcio is installed for it, not for a python3 that another tool put first on
    /// PATH.</summary>
    private const string Python = "/usr/bin/python3";

    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SeedPythonClient_SubscribesAllTopics_ReceivesAndAcksPublishedEvents()
    {
        const int count = 5;
        await using var gateway = await GatewayFixture.StartAsync(
            s => s.Config["toast:grpc:broker:heartbeat_interval_s"] = "0.2");
        var broker = gateway.App.Services.GetRequiredService<GrpcEventBroker>();
        var stubs = await GenerateStubsAsync();

        using var client = StartClient(stubs, $"127.0.0.1:{gateway.Ports.Grpc}", gateway.Keys.Subscriber, count);
        await WaitForAsync(() => broker.Stats().Subscriptions == 1, client, "the Python client's subscription");
        var published = new List<PublishResponse>();
        for (var i = 0; i < count; i++)
        {
            published.Add(await gateway.Publisher.PublishAsync(
                new PublishRequest
                {
                    Event = new EventData { ApiKey = "tenant-py", Event = "extract.completed", Jobid = $"job-{i}" },
                },
                GatewayFixture.Auth(gateway.Keys.Publisher)));
        }

        var summary = await FinishAsync(client);

        Assert.True(summary.GetProperty("ok").GetBoolean(), summary.ToString());
        Assert.True(summary.GetProperty("subscription_confirmed").GetBoolean());
        Assert.Empty(summary.GetProperty("errors").EnumerateArray());
        var events = summary.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(published.Select(p => p.Id), events.Select(e => e.GetProperty("id").GetString()));
        Assert.Equal([1L, 2, 3, 4, 5], events.Select(e => e.GetProperty("sequence_num").GetInt64()));
        Assert.All(events, e => Assert.Equal("tenant-py", e.GetProperty("topic").GetString()));
        Assert.All(events, e => Assert.Equal(1, e.GetProperty("delivery_attempt").GetInt32()));
        Assert.Equal(count, events.Select(e => e.GetProperty("ack_id").GetString()).Distinct().Count());
    }

    [Fact]
    public async Task SeedPythonClient_NoEventsPublished_SeesHeartbeatsOnly()
    {
        await using var gateway = await GatewayFixture.StartAsync(
            s => s.Config["toast:grpc:broker:heartbeat_interval_s"] = "0.2");
        var stubs = await GenerateStubsAsync();

        // Asks for one event that never comes: the client times out after 2 s, having read heartbeats meanwhile.
        using var client = StartClient(
            stubs,
            $"127.0.0.1:{gateway.Ports.Grpc}",
            gateway.Keys.Subscriber,
            1,
            timeoutSeconds: 2);
        var summary = await FinishAsync(client, expectSuccess: false);

        Assert.True(summary.GetProperty("subscription_confirmed").GetBoolean(), summary.ToString());
        Assert.True(summary.GetProperty("heartbeats").GetInt32() >= 2, summary.ToString());
        Assert.Equal(0, summary.GetProperty("events_received").GetInt32());
    }

    private static Process StartClient(string stubs, string address, string apiKey, int count, int timeoutSeconds = 30)
    {
        var start = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(RepoRoot(), "tests", "interop", "python", "seed_client.py"));
        start.ArgumentList.Add(address);
        start.ArgumentList.Add(apiKey);
        start.ArgumentList.Add(count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.Environment["PYTHONPATH"] = stubs;
        return Process.Start(start) ?? throw new InvalidOperationException($"could not start {Python}");
    }

    private static async Task<JsonElement> FinishAsync(Process client, bool expectSuccess = true)
    {
        using var cts = new CancellationTokenSource(ProcessTimeout);
        var stdout = client.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = client.StandardError.ReadToEndAsync(cts.Token);
        await client.WaitForExitAsync(cts.Token);
        var output = await stdout;
        if (expectSuccess)
        {
            Assert.True(client.ExitCode == 0, $"exit {client.ExitCode}\nstdout: {output}\nstderr: {await stderr}");
        }

        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
            ?? throw new Xunit.Sdk.XunitException($"no summary line; stderr: {await stderr}");
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    private static async Task WaitForAsync(Func<bool> condition, Process client, string what)
    {
        using var cts = new CancellationTokenSource(ProcessTimeout);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        while (!condition())
        {
            if (client.HasExited)
            {
                throw new Xunit.Sdk.XunitException(
                    $"the Python client exited ({client.ExitCode}) before {what}: " +
                    $"{await client.StandardOutput.ReadToEndAsync()} {await client.StandardError.ReadToEndAsync()}");
            }

            await timer.WaitForNextTickAsync(cts.Token);
        }
    }

    private static readonly SemaphoreSlim StubsGate = new(1, 1);
    private static string? _stubs;

    /// <summary>Generates the stubs once per test run with the repo's own script.</summary>
    private static async Task<string> GenerateStubsAsync()
    {
        await StubsGate.WaitAsync();
        try
        {
            if (_stubs is not null)
            {
                return _stubs;
            }

            var dir = GatewayFixture.NewTempDir();
            var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
            start.ArgumentList.Add(Path.Combine(RepoRoot(), "tests", "interop", "python", "gen_stubs.sh"));
            start.ArgumentList.Add(dir);
            using var process = Process.Start(start)!;
            using var cts = new CancellationTokenSource(ProcessTimeout);
            var stderr = process.StandardError.ReadToEndAsync(cts.Token);
            await process.WaitForExitAsync(cts.Token);
            Assert.True(process.ExitCode == 0, $"gen_stubs.sh failed: {await stderr}");
            return _stubs = dir;
        }
        finally
        {
            StubsGate.Release();
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Marie.Events.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException(
            "repo root (Marie.Events.slnx) not found above " + AppContext.BaseDirectory);
    }
}
