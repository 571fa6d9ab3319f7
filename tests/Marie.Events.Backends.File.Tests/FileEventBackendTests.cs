using System.Diagnostics;
using Marie.Events.Broker.Storage;
using Microsoft.Data.Sqlite;

namespace Marie.Events.Backends.File.Tests;

public sealed class FileEventBackendTests
{
    [Fact]
    public async Task AppendAsync_RestartOnSameFolder_SequencesAndEpochsContinue()
    {
        using var temp = new TempFolder();
        string epochA, epochB;
        await using (var node = await Node.StartAsync(temp.Path))
        {
            var a = await node.PublishAsync("a", 1, 3);
            var a2 = await node.PublishAsync("a", 4, 2);
            var b = await node.PublishAsync("b", 1, 1);
            Assert.Equal(1, a.FirstSequence);
            Assert.Equal(4, a2.FirstSequence);
            Assert.Equal(1, b.FirstSequence);
            Assert.Equal(a.Epoch, a2.Epoch);
            Assert.Equal(node.Topic("a").Epoch, a.Epoch);
            Assert.Equal(16, a.Epoch.Length);
            epochA = a.Epoch;
            epochB = b.Epoch;
        }

        await using (var node = await Node.StartAsync(temp.Path))
        {
            Assert.Equal(new BackendLoad(2, 6), node.Load);
            Assert.Equal(new Broker.TopicStats(5, 5, epochA), node.Topic("a"));
            Assert.Equal(new Broker.TopicStats(1, 1, epochB), node.Topic("b"));
            var next = await node.PublishAsync("a", 6, 1);
            Assert.Equal(new AppendResult(epochA, 6), next);
            var read = await node.Backend.ReadAsync("a", 1, 10, default);
            Assert.Equal(Enumerable.Range(1, 6).Select(i => (long)i), read.Select(e => e.Sequence));
            Assert.Equal(Enumerable.Range(1, 6).Select(i => $"a-{i}"), read.Select(e => e.Event.Event));
            Assert.Equal(["a", "b"], await node.Backend.ListTopicsAsync(default));
            var described = await node.Backend.DescribeAsync(["a", "missing"], default);
            Assert.Equal(new BackendTopic(epochA, 6, 1), Assert.Single(described).Value);
        }
    }

    [Theory]
    [InlineData(FsyncMode.Interval)]
    [InlineData(FsyncMode.Never)]
    public async Task AppendAsync_OtherFsyncModesAndCleanRestart_NothingLost(FsyncMode fsync)
    {
        using var temp = new TempFolder();
        await using (var node = await Node.StartAsync(temp.Path, fsync: fsync))
        {
            for (var i = 0; i < 20; i++)
            {
                await node.PublishAsync("t", (i * 2) + 1, 2);
            }
        }

        await using (var node = await Node.StartAsync(temp.Path, fsync: fsync))
        {
            Assert.Equal(40, node.Topic("t").Head);
            Assert.Equal(41, (await node.PublishAsync("t", 41, 1)).FirstSequence);
        }
    }

    [Fact]
    public async Task StartAsync_AfterManyAppends_RingHoldsLastReplaySizeAndStoreKeepsAtLeastThat()
    {
        using var temp = new TempFolder();
        const int replay = 20;
        await using (var node = await Node.StartAsync(temp.Path, replay))
        {
            for (var i = 0; i < 300; i++)
            {
                await node.PublishAsync("t", i + 1, 1);
            }

            var held = await node.Backend.ReadAsync("t", 1, 300, default);
            Assert.InRange(held.Count, replay, 300 - 1);
            Assert.Equal(300, held[^1].Sequence);
            Assert.Equal(
                Enumerable.Range(300 - held.Count + 1, held.Count).Select(i => (long)i),
                held.Select(e => e.Sequence));
        }

        await using (var node = await Node.StartAsync(temp.Path, replay))
        {
            Assert.Equal(replay, node.Load.Events);
            var stats = node.Topic("t");
            Assert.Equal(300, stats.Head);
            Assert.Equal(replay, stats.Buffered);
            var described = (await node.Backend.DescribeAsync(["t"], default))["t"];
            Assert.Equal(300, described.Head);
            Assert.True(described.Buffered >= replay);
        }
    }

    [Fact]
    public async Task AppendAsync_ConcurrentProducers_EachTopicNumberedContiguouslyOnce()
    {
        using var temp = new TempFolder();
        await using var node = await Node.StartAsync(temp.Path, 1_000);
        var topics = Enumerable.Range(0, 8).Select(i => $"t{i}").ToArray();
        var results = new System.Collections.Concurrent.ConcurrentBag<(string Topic, long First, int Count)>();
        await Task.WhenAll(topics.Select(topic => Task.Run(async () =>
        {
            for (var i = 0; i < 50; i++)
            {
                var count = (i % 5) + 1;
                var result = await node.PublishAsync(topic, 0, count);
                results.Add((topic, result.FirstSequence, count));
            }
        })));
        foreach (var topic in topics)
        {
            var numbers = results
                .Where(r => r.Topic == topic)
                .SelectMany(r => Enumerable.Range(0, r.Count).Select(i => r.First + i))
                .Order()
                .ToList();
            Assert.Equal(Enumerable.Range(1, numbers.Count).Select(i => (long)i), numbers);
            Assert.Equal(numbers.Count, node.Topic(topic).Head);
        }

        Assert.True(node.Backend.Commits <= 8 * 50);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task StartAsync_CrashImageWithTornWalTail_RecoversContiguousPrefixAndReusesNoNumber(int seed)
    {
        using var temp = new TempFolder();
        var crash = temp.Sub("crash");
        Directory.CreateDirectory(crash);
        long written;
        await using (var node = await Node.StartAsync(temp.Sub("live"), 1_000))
        {
            for (var i = 0; i < 40; i++)
            {
                await node.PublishAsync("t", (i * 3) + 1, 3, payloadBytes: 100);
            }

            written = node.Topic("t").Head;
            // The crash image: the files as they are while the backend holds them open.
            System.IO.File.Copy(node.Backend.DatabaseFile, Path.Combine(crash, "events.db"));
            System.IO.File.Copy(node.Backend.DatabaseFile + "-wal", Path.Combine(crash, "events.db-wal"));
        }

        var wal = Path.Combine(crash, "events.db-wal");
        var length = new FileInfo(wal).Length;
        const int frame = 24 + 4096;
        Assert.True(length > 32 + (3 * frame), $"the WAL holds {length} bytes");
        var cut = length - new Random(seed).NextInt64(1, 3 * frame);
        using (var stream = new FileStream(wal, FileMode.Open))
        {
            stream.SetLength(cut);
        }

        await using (var node = await Node.StartAsync(crash, 1_000))
        {
            var head = node.Topic("t").Head;
            Assert.InRange(head, 1, written - 1);
            Assert.Equal(head, node.Topic("t").Buffered);
            var held = await node.Backend.ReadAsync("t", 1, written, default);
            Assert.Equal(Enumerable.Range(1, (int)head).Select(i => (long)i), held.Select(e => e.Sequence));
            Assert.Equal(Enumerable.Range(1, (int)head).Select(i => $"t-{i}"), held.Select(e => e.Event.Event));
            Assert.Equal(head + 1, (await node.PublishAsync("t", (int)head + 1, 1)).FirstSequence);
        }
    }

    [Fact]
    public async Task StartAsync_DatabaseHeaderOverwritten_ThrowsBackendExceptionNamingFile()
    {
        using var temp = new TempFolder();
        string file;
        await using (var node = await Node.StartAsync(temp.Path))
        {
            await node.PublishAsync("t", 1, 5);
            file = node.Backend.DatabaseFile;
        }

        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.Write(Enumerable.Repeat((byte)0x5A, 100).ToArray());
        }

        var error = await Assert.ThrowsAsync<BackendException>(() => Node.StartAsync(temp.Path));
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
        Assert.Contains("move it away", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_PathUnderARegularFile_ThrowsBackendExceptionNamingKey()
    {
        using var temp = new TempFolder();
        var blocker = temp.Sub("file");
        await System.IO.File.WriteAllTextAsync(blocker, "not a folder");
        var folder = Path.Combine(blocker, "events");
        var error = await Assert.ThrowsAsync<BackendException>(() => Node.StartAsync(folder));
        Assert.Contains(FileBackendOptions.PathKey, error.Message, StringComparison.Ordinal);
        Assert.Contains(folder, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AppendAsync_InjectedWriteFailure_ThrowsAndRetryGetsTheSameNumbers()
    {
        using var temp = new TempFolder();
        await using (var node = await Node.StartAsync(temp.Path))
        {
            Assert.Equal(1, (await node.PublishAsync("t", 1, 2)).FirstSequence);
            node.Backend.BeforeCommit = () => throw new SqliteException("injected I/O error", 10);
            var error = await Assert.ThrowsAsync<BackendException>(async () => await node.PublishAsync("t", 3, 2));
            Assert.Contains(node.Backend.DatabaseFile, error.Message, StringComparison.Ordinal);
            Assert.Equal(1, node.Backend.WriteFailures);
            Assert.Equal(2, node.Topic("t").Head);
            Assert.Equal(2, (await node.Backend.ReadAsync("t", 1, 10, default)).Count);
            node.Backend.BeforeCommit = null;
            Assert.Equal(3, (await node.PublishAsync("t", 3, 2)).FirstSequence);
            Assert.Equal(4, node.Topic("t").Head);
        }

        await using (var node = await Node.StartAsync(temp.Path))
        {
            var held = await node.Backend.ReadAsync("t", 1, 10, default);
            Assert.Equal(["t-1", "t-2", "t-3", "t-4"], held.Select(e => e.Event.Event));
        }
    }

    [Fact]
    public async Task AppendAsync_DiskFullOnTmpfs_ThrowsAndNextAppendAfterSpaceReturnsGetsTheRightNumber()
    {
        using var temp = new TempFolder();
        var mount = temp.Sub("tmpfs");
        Directory.CreateDirectory(mount);
        if (!Run("mount", $"-t tmpfs -o size=1m tmpfs {mount}"))
        {
            // Not root or no mount here: the injected-failure test covers the path.
            return;
        }

        try
        {
            var filler = Path.Combine(mount, "filler");
            await using (var node = await Node.StartAsync(Path.Combine(mount, "events"), 1_000))
            {
                Assert.Equal(1, (await node.PublishAsync("t", 1, 5)).FirstSequence);
                using (var stream = new FileStream(filler, FileMode.CreateNew))
                {
                    try
                    {
                        var block = new byte[4096];
                        while (true)
                        {
                            stream.Write(block);
                            stream.Flush();
                        }
                    }
                    catch (IOException)
                    {
                        // The disk is full.
                    }
                }

                var error = await Assert.ThrowsAsync<BackendException>(
                    async () => await node.PublishAsync("t", 6, 50, payloadBytes: 2_000));
                Assert.Contains(node.Backend.DatabaseFile, error.Message, StringComparison.Ordinal);
                Assert.True(node.Backend.WriteFailures >= 1);
                Assert.Equal(5, node.Topic("t").Head);
                Assert.Equal(5, (await node.Backend.ReadAsync("t", 1, 100, default)).Count);
                System.IO.File.Delete(filler);
                Assert.Equal(6, (await node.PublishAsync("t", 6, 50, payloadBytes: 2_000)).FirstSequence);
            }

            await using (var node = await Node.StartAsync(Path.Combine(mount, "events"), 1_000))
            {
                Assert.Equal(55, node.Topic("t").Head);
                var held = await node.Backend.ReadAsync("t", 1, 100, default);
                Assert.Equal(Enumerable.Range(1, 55).Select(i => $"t-{i}"), held.Select(e => e.Event.Event));
            }
        }
        finally
        {
            Run("umount", mount);
        }
    }

    private static bool Run(string file, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            });
            process!.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
