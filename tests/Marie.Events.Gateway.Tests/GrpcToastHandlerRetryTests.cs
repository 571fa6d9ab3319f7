using Marie.Events.Gateway.Toast;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Tests;

/// <summary><c>toast.grpc.retry.*</c>: backoff_base_s, backoff_max_s, max_attempts; order per topic.</summary>
public sealed class GrpcToastHandlerRetryTests
{
    [Fact]
    public async Task Deliver_FailingBroker_RetriesWithExponentialBackoffCappedAtBackoffMax()
    {
        using var rig = new HandlerRig(
            s => s with { BackoffBase = TimeSpan.FromMilliseconds(100), BackoffMax = TimeSpan.FromMilliseconds(400) });
        rig.Sink.FailNext(5);
        var receipt = await rig.AcceptAsync(TestEvents.Make());

        // Delays after failed attempts 1..5: 100, 200, 400 (capped), 400, 400 ms.
        long[] expectedDelays = [100, 200, 400, 400, 400];
        for (var failed = 1; failed <= expectedDelays.Length; failed++)
        {
            var attempt = failed;
            Waiting.Until(() => rig.Handler.Stats().PublishRetries == attempt, $"retry {attempt} scheduled");
            rig.Advance(TimeSpan.FromMilliseconds(expectedDelays[failed - 1] - 1));
            Assert.Equal(failed, rig.Sink.AttemptCount);
            rig.Advance(TimeSpan.FromMilliseconds(1));
            Waiting.Until(() => rig.Sink.AttemptCount == attempt + 1, $"attempt {attempt + 1}");
        }

        var result = await Waiting.For(receipt.Filed!);
        Assert.Equal(1, result.SequenceNum);
        var offsets = rig.Sink.Attempts.Select(a => (long)(a.At - HandlerRig.StartTime).TotalMilliseconds).ToArray();
        Assert.Equal([0, 100, 300, 700, 1100, 1500], offsets);
        var stats = rig.Handler.Stats();
        Assert.Equal(
            (5L, 5L, 1L, 0L),
            (stats.PublishFailures, stats.PublishRetries, stats.EventsPublished, stats.EventsGivenUp));
        Assert.Single(rig.Logs.Entries, e => e.EventId.Id == 5012 && e.Level == LogLevel.Warning);
        Assert.Single(rig.Logs.Entries, e => e.EventId.Id == 5015);
    }

    [Fact]
    public async Task Deliver_MaxAttemptsReached_GivesUpLoggingTheEventIdAndCounts()
    {
        using var rig = new HandlerRig(
            s => s with
            {
                MaxAttempts = 3,
                BackoffBase = TimeSpan.FromMilliseconds(100),
                BackoffMax = TimeSpan.FromMilliseconds(100),
            });
        rig.Sink.Failing = true;
        var receipt = await rig.AcceptAsync(TestEvents.Make(id: "doomed"));

        for (var retry = 1; retry <= 2; retry++)
        {
            var scheduled = retry;
            Waiting.Until(() => rig.Handler.Stats().PublishRetries == scheduled, $"retry {scheduled} scheduled");
            rig.Advance(TimeSpan.FromMilliseconds(100));
        }

        var error = await Assert.ThrowsAsync<ToastRejectedException>(() => Waiting.For(receipt.Filed!));
        Assert.Equal(ToastRejection.GaveUp, error.Reason);
        Assert.Equal(3, rig.Sink.AttemptCount);
        var log = Assert.Single(rig.Logs.Entries, e => e.EventId.Id == 5014);
        Assert.StartsWith("Event doomed dropped after 3 publish attempts", log.Message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Error, log.Level);
        var stats = rig.Handler.Stats();
        Assert.Equal((1L, 3L, 0L), (stats.EventsGivenUp, stats.PublishFailures, stats.EventsPublished));
        Waiting.Until(() => rig.Handler.Stats().QueueDepth == 0, "the slot freed");
    }

    [Fact]
    public async Task Deliver_MaxAttemptsZero_KeepsRetryingUntilTheBrokerTakesIt()
    {
        using var rig = new HandlerRig(
            s => s with
            {
                MaxAttempts = 0,
                BackoffBase = TimeSpan.FromMilliseconds(10),
                BackoffMax = TimeSpan.FromMilliseconds(10),
            });
        rig.Sink.FailNext(30);
        var receipt = await rig.AcceptAsync(TestEvents.Make());

        for (var retry = 1; retry <= 30; retry++)
        {
            var scheduled = retry;
            Waiting.Until(() => rig.Handler.Stats().PublishRetries == scheduled, $"retry {scheduled} scheduled");
            rig.Advance(TimeSpan.FromMilliseconds(10));
        }

        Assert.Equal(1, (await Waiting.For(receipt.Filed!)).SequenceNum);
        Assert.Equal(31, rig.Sink.AttemptCount);
        Assert.Equal(0, rig.Handler.Stats().EventsGivenUp);
    }

    [Fact]
    public async Task Deliver_OneTopicFailing_ItsEventsWaitInOrderWhileOtherTopicsFlow()
    {
        using var rig = new HandlerRig(
            s => s with { BackoffBase = TimeSpan.FromMilliseconds(100), BackoffMax = TimeSpan.FromMilliseconds(100) });
        rig.Sink.FailingTopic = "down";
        rig.Sink.Failing = true;
        var down = new List<ToastReceipt>();
        for (var i = 0; i < 3; i++)
        {
            down.Add(await rig.AcceptAsync(TestEvents.Make("down", id: $"down-{i}")));
        }

        var up = await rig.AcceptAsync(TestEvents.Make("up", id: "up-0"));

        Assert.Equal(1, (await Waiting.For(up.Filed!)).SequenceNum);
        Waiting.Until(() => rig.Handler.Stats().PublishRetries >= 1, "the failing topic's retry scheduled");
        Assert.All(down, r => Assert.False(r.Filed!.IsCompleted));
        Assert.All(rig.Sink.Attempts.Where(a => a.Topic == "down"), a => Assert.Equal("down-0", a.Id));

        rig.Sink.Failing = false;
        rig.Advance(TimeSpan.FromMilliseconds(100));

        var sequences = new List<long>();
        foreach (var receipt in down)
        {
            sequences.Add((await Waiting.For(receipt.Filed!)).SequenceNum);
        }

        Assert.Equal([1, 2, 3], sequences);
        Assert.Equal(
            ["down-0", "down-1", "down-2"],
            rig.Sink.Filed.Where(id => id.StartsWith("down", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Deliver_BrokerRefusesForALimit_NotRetried()
    {
        using var rig = new HandlerRig(maxTopics: 1);
        await Waiting.For((await rig.AcceptAsync(TestEvents.Make("first"))).Filed!);

        var receipt = await rig.AcceptAsync(TestEvents.Make("second"));

        var error = await Assert.ThrowsAsync<ToastRejectedException>(() => Waiting.For(receipt.Filed!));
        Assert.Equal(ToastRejection.LimitExceeded, error.Reason);
        Assert.Contains("max_topics", error.Message, StringComparison.Ordinal);
        Assert.Equal((1L, 0L), (rig.Handler.Stats().EventsInvalid, rig.Handler.Stats().PublishRetries));
    }

    [Theory]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(3, 400)]
    [InlineData(4, 800)]
    [InlineData(5, 1600)]
    [InlineData(6, 2000)]
    [InlineData(1000, 2000)]
    public void Backoff_SeedDefaults_DoublesFromBaseUpToMax(int attempt, long expectedMs)
    {
        Assert.Equal(expectedMs, (long)Math.Round(GrpcToastSettings.Default.Backoff(attempt).TotalMilliseconds));
    }
}
