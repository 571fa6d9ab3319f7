using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.DeadLetters;

/// <summary>Dead letters on the file backend survive a gateway restart on the same folder, and replay after the
/// restart goes to the durable subscription that failed them.</summary>
public sealed class DeadLetterRestartTests
{
    private const string Topic = "dl-restart";
    private const string Durable = "dl-restart-durable";

    private static Task<GatewayFixture> StartAsync(string path, TestKeys? keys) =>
        GatewayFixture.StartAsync(s =>
        {
            s.Keys = keys;
            s.Config["toast:grpc:broker:backend"] = "file";
            s.Config["toast:grpc:broker:file:path"] = path;
            // Long: the test settles by terminate, and no ack timeout should interfere.
            s.Config["toast:grpc:broker:ack_timeout_s"] = "30";
        });

    [Fact]
    public async Task DeadLetter_FileGatewayRestarts_ListedWithReasonAttemptsAndEventAndReplayedToTheDurable()
    {
        var path = GatewayFixture.NewTempDir();
        try
        {
            string eventId;
            TestKeys keys;
            await using (var first = await StartAsync(path, null))
            {
                keys = first.Keys;
                using var stream = SettleStream.Open(first, keys.Subscriber);
                await stream.SubscribeAsync("s1", Topic, r => r.DurableName = Durable);
                eventId = (await SettleVerbStreamTests.PublishAsync(first, Topic)).Id;
                var delivered = await stream.NextEventAsync("s1");
                await stream.TerminateAsync("s1", delivered.AckId, "cannot parse the invoice");
                await stream.BarrierAsync();
            }

            // A clean stop writes the dead letters' last changes; the new gateway loads them from the same file.
            await using var second = await StartAsync(path, keys);
            var client = DeadLetterClient.For(second);
            var auth = GatewayFixture.Auth(keys.Subscriber);
            var listed = await client.ListDeadLettersAsync(new ListDeadLettersRequest(), auth);

            var letter = Assert.Single(listed.DeadLetters);
            Assert.Equal("terminated", letter.ReasonCode);
            Assert.Equal("cannot parse the invoice", letter.Reason);
            Assert.Equal(1, letter.Attempts);
            Assert.Equal(eventId, letter.Event.Id);
            Assert.Equal(Topic, letter.Topic);
            Assert.Equal(1, letter.SequenceNum);
            Assert.Equal(Durable, letter.Subscription.DurableName);

            using var resumed = SettleStream.Open(second, keys.Subscriber);
            await resumed.SubscribeAsync("s2", Topic, r => r.DurableName = Durable);
            var replay = await client.ReplayDeadLettersAsync(new ReplayDeadLettersRequest(), auth);
            var again = await resumed.NextEventAsync("s2");

            Assert.Equal(1, replay.Replayed);
            Assert.Empty(replay.Failures);
            Assert.Equal(1, again.SequenceNum);
            Assert.Equal(eventId, again.Event.Id);
            Assert.Equal(0, (await client.ListDeadLettersAsync(new ListDeadLettersRequest(), auth)).Total);
        }
        finally
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
