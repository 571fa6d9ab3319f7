using Google.Protobuf;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Gateway.Tests;

/// <summary><c>toast.native.*</c>: path, max_bytes, max_files, queue_maxsize.</summary>
public sealed class NativeToastHandlerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "marie-events-unit", Guid.NewGuid().ToString("N"));
    private readonly RecordingLoggerFactory _logs = new();

    private string FilePath => Path.Combine(_dir, "native", "events.jsonl");

    private NativeToastHandler NewHandler(
        long maxBytes = NativeToastSettings.DefaultMaxBytes,
        int maxFiles = 5,
        int queue = 64,
        string? path = null) =>
        new(
            new NativeToastSettings(path ?? FilePath, maxBytes, maxFiles, queue, ["*"]),
            _logs.CreateLogger<NativeToastHandler>());

    [Fact]
    public async Task HandleAsync_Events_AppendedAsOneJsonLineEachThatParsesBackToTheEvent()
    {
        using var handler = NewHandler();
        handler.Start();
        var events = new[] { TestEvents.Make(id: "one"), TestEvents.Make("tenant-b", "run.success", id: "two") };
        events[1].Payload = Google.Protobuf.WellKnownTypes.Struct.Parser.ParseJson("""{"pages": 3, "ok": true}""");

        foreach (var evt in events)
        {
            await handler.HandleAsync(evt, CancellationToken.None);
        }

        Waiting.Until(() => handler.Stats().EventsWritten == 2, "two lines written");
        var lines = ReadLines(FilePath);
        Assert.Equal(2, lines.Length);
        Assert.Contains("\"api_key\":\"tenant-b\"", lines[1], StringComparison.Ordinal);
        Assert.Equal(events, lines.Select(l => JsonParser.Default.Parse<EventData>(l)));
    }

    [Fact]
    public async Task HandleAsync_FileMissing_CreatesFolderAndOwnerOnlyFile()
    {
        using var handler = NewHandler();
        handler.Start();

        await handler.HandleAsync(TestEvents.Make(), CancellationToken.None);

        Waiting.Until(() => handler.Stats().EventsWritten == 1, "one line written");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(FilePath));
        }
    }

    [Fact]
    public void Append_PastMaxBytes_RotatesKeepingMaxFiles()
    {
        // Lines of 10 bytes, max_bytes 25: two lines a file; 9 lines -> 5 files written, 2 rotated kept.
        using var log = new NativeEventLog(FilePath, 25, 2);
        for (var i = 0; i < 9; i++)
        {
            log.Append(System.Text.Encoding.UTF8.GetBytes($"line-{i:D3}\n"));
        }

        log.Close();

        Assert.Equal(4, log.Rotations);
        Assert.Equal(["line-008"], ReadLines(FilePath));
        Assert.Equal(["line-006", "line-007"], ReadLines(FilePath + ".1"));
        Assert.Equal(["line-004", "line-005"], ReadLines(FilePath + ".2"));
        Assert.False(File.Exists(FilePath + ".3"));
    }

    [Fact]
    public void Append_MaxFilesZero_RotationKeepsNoOldFile()
    {
        using var log = new NativeEventLog(FilePath, 25, 0);
        for (var i = 0; i < 3; i++)
        {
            log.Append(System.Text.Encoding.UTF8.GetBytes($"line-{i:D3}\n"));
        }

        log.Close();

        Assert.Equal(["line-002"], ReadLines(FilePath));
        Assert.False(File.Exists(FilePath + ".1"));
    }

    [Fact]
    public void Append_LineLargerThanMaxBytes_WrittenAloneInItsFile()
    {
        using var log = new NativeEventLog(FilePath, 5, 1);

        log.Append(System.Text.Encoding.UTF8.GetBytes("a-long-line\n"));
        log.Append(System.Text.Encoding.UTF8.GetBytes("next\n"));
        log.Close();

        Assert.Equal(["next"], ReadLines(FilePath));
        Assert.Equal(["a-long-line"], ReadLines(FilePath + ".1"));
    }

    [Fact]
    public void Append_ExistingFile_AppendsAndCountsItsSizeTowardsRotation()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        File.WriteAllText(FilePath, "old-line-1\n");
        using var log = new NativeEventLog(FilePath, 25, 1);

        log.Append(System.Text.Encoding.UTF8.GetBytes("new-line-1\n"));
        log.Append(System.Text.Encoding.UTF8.GetBytes("new-line-2\n"));
        log.Close();

        Assert.Equal(["old-line-1", "new-line-1"], ReadLines(FilePath + ".1"));
        Assert.Equal(["new-line-2"], ReadLines(FilePath));
    }

    [Fact]
    public async Task HandleAsync_QueueFullFlood_TenLinesASecondThenOneCountOfTheRest()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var handler = new NativeToastHandler(
            new NativeToastSettings(FilePath, NativeToastSettings.DefaultMaxBytes, 5, 1, ["*"]),
            _logs.CreateLogger<NativeToastHandler>(),
            time);
        // The writer is not started: one event fills the queue of 1, the next 25 are dropped.
        for (var i = 0; i < 26; i++)
        {
            await handler.HandleAsync(TestEvents.Make(id: $"e{i}"), CancellationToken.None);
        }

        time.Advance(TimeSpan.FromSeconds(1));
        await handler.HandleAsync(TestEvents.Make(id: "after"), CancellationToken.None);

        Assert.Equal(26, handler.Stats().EventsDropped);
        Assert.Equal(11, _logs.Entries.Count(e => e.EventId.Id == 5010));
        var summary = Assert.Single(_logs.Entries, e => e.EventId.Id == 5018);
        Assert.Contains(": 15 more events dropped", summary.Message, StringComparison.Ordinal);
        Assert.Contains("after", _logs.Entries[^1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandleAsync_QueueFull_NotRecordedWithWarningAndCounted()
    {
        // The writer is not started: the queue of 2 fills.
        using var handler = NewHandler(queue: 2);
        await handler.HandleAsync(TestEvents.Make(), CancellationToken.None);
        await handler.HandleAsync(TestEvents.Make(), CancellationToken.None);

        var receipt = await handler.HandleAsync(TestEvents.Make(id: "third"), CancellationToken.None);

        Assert.Null(receipt.Filed);
        Assert.Equal((2, 1L), (handler.Stats().QueueDepth, handler.Stats().EventsDropped));
        var warning = Assert.Single(_logs.Entries, e => e.EventId.Id == 5010);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.StartsWith(
            "Queue full for toast handler native, event dropped",
            warning.Message,
            StringComparison.Ordinal);
        Assert.Contains("third", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteLoop_PathIsAFolder_FailureLoggedAndCountedNotThrown()
    {
        Directory.CreateDirectory(FilePath);
        using var handler = NewHandler();
        handler.Start();

        await handler.HandleAsync(TestEvents.Make(), CancellationToken.None);

        Waiting.Until(() => handler.Stats().WriteFailures == 1, "the write failure counted");
        Assert.Single(_logs.Entries, e => e.EventId.Id == 5031 && e.Level == LogLevel.Error);
        Assert.Equal(0, handler.Stats().EventsWritten);
    }

    [Fact]
    public async Task StopAsync_QueuedLines_WrittenBeforeItReturns()
    {
        using var handler = NewHandler();
        for (var i = 0; i < 10; i++)
        {
            await handler.HandleAsync(TestEvents.Make(), CancellationToken.None);
        }

        handler.Start();
        var notWritten = await Waiting.For(handler.StopAsync(TimeSpan.FromSeconds(5), new FakeTimeProvider()));

        Assert.Equal(0, notWritten);
        Assert.Equal(10, ReadLines(FilePath).Length);
    }

    [Fact]
    public void From_PathUnset_DefaultsToStateDir()
    {
        var settings = NativeToastSettings.From(new Configuration.ToastNativeOptions(), _dir);

        Assert.Equal(Path.Combine(_dir, "native-events.jsonl"), settings.Path);
        Assert.Equal(["*"], settings.Events);
        Assert.Equal((64L * 1024 * 1024, 5, 4096), (settings.MaxBytes, settings.MaxFiles, settings.QueueMaxSize));
    }

    private static string[] ReadLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public void Dispose()
    {
        _logs.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing was written.
        }
    }
}
