using System.Net;
using System.Text.RegularExpressions;
using Marie.Events.FunctionalTests.Infrastructure;

namespace Marie.Events.FunctionalTests;

/// <summary>First run without <c>auth.keys</c>: one development key per role, printed once, kept in the state
/// folder.</summary>
public sealed partial class DevKeysTests : IDisposable
{
    private readonly string _stateDir = GatewayFixture.NewTempDir();

    private string KeyFile => Path.Combine(_stateDir, "dev-keys.yml");

    public void Dispose() => Directory.Delete(_stateDir, recursive: true);

    [Fact]
    public async Task StartAsync_NoKeysConfigured_CreatesPrintsAndSavesOneKeyPerRole()
    {
        await using var gateway = await StartWithoutKeysAsync();

        var printed = PrintedKeys(gateway.Console.ToString());
        Assert.Equal(["admin", "publisher", "subscriber"], printed.Keys.Order());
        Assert.Equal(3, printed.Values.Distinct().Count());
        Assert.True(File.Exists(KeyFile));
        var saved = await File.ReadAllTextAsync(KeyFile);
        Assert.All(printed.Values, key => Assert.Contains(key, saved, StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyFile));
        }

        Assert.Contains(gateway.Logs.Entries, e => e.EventId.Id == 2011);
        Assert.All(
            gateway.Logs.Entries,
            e => Assert.DoesNotContain(printed["admin"], e.Message, StringComparison.Ordinal));

        // The printed keys work and carry their roles.
        using (var asSubscriber = await gateway.GetStatsAsync(printed["subscriber"]))
        {
            Assert.Equal(HttpStatusCode.Forbidden, asSubscriber.StatusCode);
        }

        using var asPublisher = await gateway.GetStatsAsync(printed["publisher"]);
        Assert.Equal(HttpStatusCode.Forbidden, asPublisher.StatusCode);
    }

    [Fact]
    public async Task StartAsync_SecondRun_LoadsKeysWithoutPrintingThem()
    {
        Dictionary<string, string> first;
        await using (var firstRun = await StartWithoutKeysAsync())
        {
            first = PrintedKeys(firstRun.Console.ToString());
        }

        await using var secondRun = await StartWithoutKeysAsync();

        Assert.Empty(PrintedKeys(secondRun.Console.ToString()));
        Assert.All(
            first.Values,
            key => Assert.DoesNotContain(key, secondRun.Console.ToString(), StringComparison.Ordinal));
        Assert.Contains(
            secondRun.Logs.Entries,
            e => e.EventId.Id == 2012 && e.Message.Contains(KeyFile, StringComparison.Ordinal));
        Assert.DoesNotContain(secondRun.Logs.Entries, e => e.EventId.Id == 2011);
        using var response = await secondRun.GetStatsAsync(first["subscriber"]);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode); // known key, not admin
    }

    [Fact]
    public async Task StartAsync_KeysConfigured_NoDevelopmentKeys()
    {
        await using var gateway = await GatewayFixture.StartAsync(s => s.StateDir = _stateDir);

        Assert.False(File.Exists(KeyFile));
        Assert.Empty(PrintedKeys(gateway.Console.ToString()));
        Assert.DoesNotContain(gateway.Logs.Entries, e => e.EventId.Id is 2011 or 2012);
    }

    [Fact]
    public async Task StartAsync_CorruptKeyFile_FailsNamingTheFile()
    {
        await File.WriteAllTextAsync(KeyFile, "auth:\n  keys:\n    - name: x\n      api_key: short\n");
        var settings = new GatewaySettings { ConfigureKeys = false, StateDir = _stateDir };
        await using var app = GatewayFixture.Build(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

        Assert.Contains(KeyFile, error.Message, StringComparison.Ordinal);
        Assert.Contains("Delete the file", error.Message, StringComparison.Ordinal);
    }

    private Task<GatewayFixture> StartWithoutKeysAsync() =>
        GatewayFixture.StartAsync(s =>
        {
            s.ConfigureKeys = false;
            s.StateDir = _stateDir;
        });

    /// <summary>role -> key from the printed block.</summary>
    private static Dictionary<string, string> PrintedKeys(string console) =>
        PrintedKey().Matches(console).ToDictionary(m => m.Groups["role"].Value, m => m.Groups["key"].Value);

    [GeneratedRegex(
        @"^\s+(?<role>admin|publisher|subscriber)\s+(?<key>ma[us]_[0-9A-Za-z]{54})\s*$",
        RegexOptions.Multiline)]
    private static partial Regex PrintedKey();
}
