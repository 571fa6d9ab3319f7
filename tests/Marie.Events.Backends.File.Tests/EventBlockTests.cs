using Google.Protobuf;
using Marie.Events.Protocol;
using Microsoft.Data.Sqlite;

namespace Marie.Events.Backends.File.Tests;

public sealed class EventBlockTests
{
    [Fact]
    public void Encode_EventsOfManySizes_ReadBackInOrderAndSlicesMatchTheBytes()
    {
        // Sizes either side of the varint length's one- and two-byte boundaries (127, 16,383).
        var events = new[] { 0, 100, 200, 20_000 }
            .Select((size, i) => new EventData { Id = $"e{i}", ApiKey = "t", Jobtag = new string('x', size) })
            .ToList();
        var publishedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

        var block = EventBlock.Encode(events, 41, publishedAt, out var slices);

        ReadOnlySpan<byte> rest = block;
        var read = new List<EventData>();
        while (EventBlock.TryReadNext(ref rest, out var data))
        {
            read.Add(EventData.Parser.ParseFrom(data));
        }

        Assert.Equal(events, read);
        Assert.Equal([41L, 42, 43, 44], slices.Select(s => s.Sequence));
        Assert.All(slices, s => Assert.Equal(publishedAt, s.PublishedAt));
        Assert.Equal(events, slices.Select(s => s.Event));
        Assert.Equal(events.Sum(e => CodedOutputStream.ComputeLengthSize(e.CalculateSize()) + e.CalculateSize()),
            block.Length);
    }

    [Theory]
    [InlineData(new byte[] { 5, 1, 2 })]
    [InlineData(new byte[] { 0x80 })]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })]
    public void TryReadNext_MalformedBlock_ThrowsInvalidData(byte[] block)
    {
        Assert.Throws<InvalidDataException>(() =>
        {
            ReadOnlySpan<byte> rest = block;
            while (EventBlock.TryReadNext(ref rest, out _))
            {
            }
        });
    }

    [Fact]
    public async Task StartAsync_DatabaseWithOneRowPerEvent_UpgradedAndNumbersContinue()
    {
        using var temp = new TempFolder();
        var file = System.IO.Path.Combine(temp.Path, FileEventBackend.DatabaseFileName);
        var old = Node.Events("a", 1, 5);
        using (var connection = new SqliteConnection($"Data Source={file};Pooling=False"))
        {
            // The layout a gateway wrote before blocks.
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                PRAGMA journal_mode=WAL;
                CREATE TABLE topics(topic TEXT PRIMARY KEY, epoch TEXT NOT NULL, head INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE events(topic TEXT NOT NULL, seq INTEGER NOT NULL, published_ms INTEGER NOT NULL,
                    data BLOB NOT NULL, PRIMARY KEY(topic, seq)) WITHOUT ROWID;
                INSERT INTO topics VALUES ('a', '00112233445566aa', 5);
                """;
            command.ExecuteNonQuery();
            command.CommandText = "INSERT INTO events VALUES ('a', $s, 1000, $d)";
            var seq = command.Parameters.Add("$s", SqliteType.Integer);
            var data = command.Parameters.Add("$d", SqliteType.Blob);
            for (var i = 0; i < old.Count; i++)
            {
                seq.Value = i + 1;
                data.Value = old[i].ToByteArray();
                command.ExecuteNonQuery();
            }
        }

        await using (var node = await Node.StartAsync(temp.Path))
        {
            Assert.Equal(5, node.Load.Events);
            Assert.Equal(new Broker.TopicStats(5, 5, "00112233445566aa"), node.Topic("a"));
            var next = await node.PublishAsync("a", 6, 3);
            Assert.Equal(6, next.FirstSequence);
            var read = await node.Backend.ReadAsync("a", 4, 7, default);
            Assert.Equal([4L, 5, 6, 7], read.Select(e => e.Sequence));
            Assert.Equal(["a-4", "a-5", "a-6", "a-7"], read.Select(e => e.Event.Event));
            Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1000), read[0].PublishedAt);
        }

        await using (var node = await Node.StartAsync(temp.Path))
        {
            Assert.Equal(8, node.Load.Events);
            Assert.Equal(8, node.Topic("a").Head);
        }
    }
}
