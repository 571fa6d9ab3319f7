using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>How the ring stores events: bytes in shared chunks (<see cref="EventSlab"/>), repeated strings shared
/// (<see cref="StringPool"/>), and what a stored event gives back.</summary>
public sealed class EventStorageTests
{
    private static EventData Event(int i, int payloadChars = 200) => new()
    {
        Id = $"id-{i}",
        ApiKey = "t",
        Jobid = $"job-{i % 3}",
        Event = "job.progress",
        Source = "worker",
        Payload = new Struct
        {
            Fields = { ["text"] = Value.ForString(new string('x', payloadChars)), ["i"] = Value.ForNumber(i) },
        },
    };

    [Fact]
    public void Append_ManyEvents_EachReadsBackItsOwnBytesAndTime()
    {
        var log = new MemoryTopicLog("t", capacity: 5_000);
        var published = new List<(EventData Data, Timestamp At)>();
        for (var i = 0; i < 5_000; i++)
        {
            var data = Event(i);
            var at = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch.AddSeconds(i).AddTicks(i));
            published.Add((data.Clone(), at));
            log.AppendAt(log.Head + 1, data, at.ToDateTimeOffset());
        }

        for (var i = 0; i < published.Count; i++)
        {
            Assert.Equal(ReadOutcome.Found, log.TryRead(i + 1, out var stored));
            Assert.Equal(published[i].Data.ToByteArray(), stored!.DataBytes.ToArray());
            Assert.Equal(published[i].At, stored.PublishedAt);
            Assert.Equal(published[i].Data.Jobid, stored.JobId);
        }
    }

    [Fact]
    public void Append_AfterDispatch_DataIsParsedFromTheStoredBytes()
    {
        var log = new MemoryTopicLog("t", capacity: 10);
        var data = Event(7);
        var stored = log.AppendAt(log.Head + 1, data, DateTimeOffset.UnixEpoch);

        stored.Dispatched();

        Assert.NotSame(data, stored.Data);
        Assert.Equal(data, stored.Data);
    }

    [Fact]
    public void Append_EventsRepeatingNameSourceAndJob_ShareOneStringPerValue()
    {
        var log = new MemoryTopicLog("t", capacity: 10);
        // Parsed from bytes, as the gateway receives them: every event has its own string objects.
        var at = DateTimeOffset.UnixEpoch;
        var first = log.AppendAt(log.Head + 1, EventData.Parser.ParseFrom(Event(0).ToByteArray()), at);
        var second = log.AppendAt(log.Head + 1, EventData.Parser.ParseFrom(Event(3).ToByteArray()), at);

        Assert.Same(first.Name, second.Name);
        Assert.Same(first.Source, second.Source);
        Assert.Same(first.JobId, second.JobId);
    }

    [Fact]
    public void Reserve_SmallEvents_ShareChunksThatGrowUpToTheMaximum()
    {
        var slab = new EventSlab();
        var chunks = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
        var largest = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var chunk = slab.Reserve(300, out var offset);
            Assert.InRange(offset, 0, chunk.Length - 300);
            chunks.Add(chunk);
            largest = Math.Max(largest, chunk.Length);
        }

        Assert.Equal(EventSlab.MaxChunkBytes, largest);
        // 3 MB in chunks of 4, 8, 16, 32 KiB, then 64 KiB: far fewer arrays than events.
        Assert.InRange(chunks.Count, 10, 60);
    }

    [Fact]
    public void Reserve_EventLargerThanAQuarterChunk_GetsAnArrayOfItsOwn()
    {
        var slab = new EventSlab();
        var small = slab.Reserve(100, out _);

        var large = slab.Reserve(EventSlab.FirstChunkBytes, out var offset);

        Assert.NotSame(small, large);
        Assert.Equal((EventSlab.FirstChunkBytes, 0), (large.Length, offset));
        // The chunk in use is still the small one's.
        Assert.Same(small, slab.Reserve(100, out var next));
        Assert.Equal(100, next);
    }

    [Fact]
    public void Reserve_WritesToOneReservation_LeaveTheOthersUnchanged()
    {
        var slab = new EventSlab();
        var a = slab.Reserve(10, out var offsetA);
        a.AsSpan(offsetA, 10).Fill(1);
        var b = slab.Reserve(10, out var offsetB);
        b.AsSpan(offsetB, 10).Fill(2);

        Assert.All(a.AsSpan(offsetA, 10).ToArray(), x => Assert.Equal(1, x));
        Assert.All(b.AsSpan(offsetB, 10).ToArray(), x => Assert.Equal(2, x));
    }

    [Fact]
    public void Intern_CollidingValues_ReturnsEqualStrings()
    {
        var pool = new StringPool();
        for (var i = 0; i < 2_000; i++)
        {
            var value = $"job-{i}";
            Assert.Equal(value, pool.Intern(value));
        }

        var longValue = new string('j', 500);
        Assert.Same(longValue, pool.Intern(longValue));
        Assert.Same(string.Empty, pool.Intern(new string('a', 0)));
    }
}
