using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker.Storage;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>Events a backend hands over as their stored bytes: the ring keeps them without parsing them, and they
/// read back exactly as a parsed event would.</summary>
public sealed class EncodedEventTests
{
    private static EventData Event(int i) => new()
    {
        Id = $"id-{i}",
        ApiKey = "t",
        Jobid = $"job-{i % 3}",
        Event = "job.progress",
        Source = "wörker",
        Status = "OK",
        Timestamp = 1_700_000_000_000 + i,
        Payload = new Struct { Fields = { ["i"] = Value.ForNumber(i), ["s"] = Value.ForString("x") } },
    };

    [Fact]
    public void AppendAt_EncodedEvent_StoresTheSameBytesAndFieldsAsTheParsedOne()
    {
        var parsed = new MemoryTopicLog("t", capacity: 10);
        var encoded = new MemoryTopicLog("t", capacity: 10);
        var at = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch.AddSeconds(5));
        for (var i = 1; i <= 5; i++)
        {
            parsed.AppendAt(i, Event(i), at.ToDateTimeOffset());
            encoded.AppendAt(i, Event(i).ToByteArray(), at.ToDateTimeOffset());
        }

        for (var i = 1; i <= 5; i++)
        {
            parsed.TryRead(i, out var a);
            Assert.Equal(ReadOutcome.Found, encoded.TryRead(i, out var b));
            Assert.Equal(a!.DataBytes.ToArray(), b!.DataBytes.ToArray());
            Assert.Equal(a.PublishedAt, b.PublishedAt);
            Assert.Equal((a.Name, a.Source, a.JobId), (b.Name, b.Source, b.JobId));
            Assert.Equal(Event(i), b.Data);
        }
    }

    [Fact]
    public void AppendAt_EncodedEventsRepeatingStrings_ShareOneStringPerValue()
    {
        var log = new MemoryTopicLog("t", capacity: 10);
        log.AppendAt(1, Event(1).ToByteArray(), DateTimeOffset.UnixEpoch);
        log.AppendAt(2, Event(4).ToByteArray(), DateTimeOffset.UnixEpoch);
        log.TryRead(1, out var first);
        log.TryRead(2, out var second);

        Assert.Same(first!.Name, second!.Name);
        Assert.Same(first.Source, second.Source);
        Assert.Same(first.JobId, second.JobId);
    }

    [Fact]
    public void AppendAt_EventWithoutTheKeptFields_ReadsThemAsEmpty()
    {
        var log = new MemoryTopicLog("t", capacity: 10);
        var stored = log.AppendAt(1, new EventData { Id = "only-id" }.ToByteArray(), DateTimeOffset.UnixEpoch);

        Assert.Equal(("", "", ""), (stored.Name, stored.Source, stored.JobId));
        Assert.Equal("only-id", stored.Data.Id);
    }

    [Theory]
    [InlineData(new byte[] { 0x2A })]
    [InlineData(new byte[] { 0x2A, 0x05, 0x61 })]
    [InlineData(new byte[] { 0x2B, 0x00 })]
    [InlineData(new byte[] { 0x40, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })]
    public void AppendAt_MalformedBytes_ThrowsAndStoresNothing(byte[] bytes)
    {
        var log = new MemoryTopicLog("t", capacity: 10);

        Assert.Throws<InvalidDataException>(() => log.AppendAt(1, bytes, DateTimeOffset.UnixEpoch));
        Assert.Equal(0, log.Head);
    }

    [Fact]
    public void BackendEvent_FromBytes_ParsesToTheEventAndEqualsTheParsedForm()
    {
        var at = DateTimeOffset.UnixEpoch.AddSeconds(9);
        var fromBytes = new BackendEvent(3, Event(3).ToByteArray(), at);
        var parsed = new BackendEvent(3, Event(3), at);

        Assert.True(fromBytes.IsEncoded);
        Assert.False(parsed.IsEncoded);
        Assert.Equal(Event(3), fromBytes.Event);
        Assert.Equal(parsed, fromBytes);
    }

    [Fact]
    public async Task Apply_EncodedEvents_SubscriberReceivesThemParsed()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync(Msg.Sub("s1", "a"));
        var epoch = t.Broker.GetTopicPosition("a")!.Value.Epoch;
        BackendEvent[] batch =
        [
            new(1, Ev.Make("a").ToByteArray(), TestBroker.StartTime),
            new(2, Ev.Make("a").ToByteArray(), TestBroker.StartTime),
        ];

        Assert.Equal(ApplyOutcome.Applied, t.Broker.Apply("a", epoch, batch, allowGap: false));

        Assert.Equal(Drain.Range(1, 2), connection.All().Events().Seqs());
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(621_355_968_000_000_000L)]
    [InlineData(621_355_968_000_000_001L)]
    [InlineData(638_000_000_000_000_000L)]
    [InlineData(638_000_000_009_999_999L)]
    [InlineData(3_155_378_975_999_999_999L)]
    public void TimestampBytes_AnyTime_AreTheBytesOfTheProtobufTimestamp(long ticks)
    {
        var time = new DateTimeOffset(ticks, TimeSpan.Zero);
        var expected = Timestamp.FromDateTimeOffset(time).ToByteArray();
        var written = new byte[TimestampBytes.Size(time)];

        TimestampBytes.Write(time, written);

        Assert.Equal(expected, written);
    }
}
