using Marie.Events.Client.Internal;

namespace Marie.Events.Client.Tests.Unit;

public sealed class TopicTrackerTests
{
    private const long Session1 = 1;
    private const long Session2 = 2;

    private static TopicTracker Started(long head = 0, string epoch = "e1")
    {
        var tracker = new TopicTracker("t");
        tracker.ApplyConfirm(epoch, replayFrom: 0, head: head);
        return tracker;
    }

    [Fact]
    public void ApplyConfirm_FirstConfirm_StartsBeforeReplayOrAtHead()
    {
        var live = new TopicTracker("t");
        var replay = new TopicTracker("t");

        live.ApplyConfirm("e1", replayFrom: 0, head: 42);
        replay.ApplyConfirm("e1", replayFrom: 10, head: 42);

        Assert.Equal(42, live.Watermark);
        Assert.Equal(9, replay.Watermark);
    }

    [Fact]
    public void OnDelivery_SameSequenceTwice_SecondIsDuplicateWithoutAck()
    {
        var tracker = Started();

        var first = tracker.OnDelivery(1, "a1", Session1, manual: false);
        var second = tracker.OnDelivery(1, "a1", Session1, manual: false);

        Assert.Equal(DeliveryKind.New, first.Kind);
        Assert.Equal(DeliveryKind.Duplicate, second.Kind);
        Assert.True(second.Ack.IsNone, "the pending event is acked once processed");
    }

    [Fact]
    public void OnProcessed_InOrder_AcksCumulativeAndAdvancesWatermark()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, false);
        tracker.OnDelivery(2, "a2", Session1, false);

        var one = tracker.OnProcessed(1, tracker.Generation);
        var two = tracker.OnProcessed(2, tracker.Generation);

        Assert.True(one.Ack.IsCumulative);
        Assert.Equal(1, one.Ack.CumulativeUpTo);
        Assert.Equal(2, two.Ack.CumulativeUpTo);
        Assert.Equal(2, tracker.Watermark);
        Assert.Equal(0, tracker.ProcessedAboveCount);
    }

    [Fact]
    public void OnProcessed_OutOfOrder_AcksIndividuallyUntilContiguous()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, true);
        tracker.OnDelivery(2, "a2", Session1, true);
        tracker.OnDelivery(3, "a3", Session1, true);

        var three = tracker.OnProcessed(3, tracker.Generation);
        var one = tracker.OnProcessed(1, tracker.Generation);
        var two = tracker.OnProcessed(2, tracker.Generation);

        Assert.False(three.Ack.IsCumulative);
        Assert.Equal("a3", three.Ack.AckId);
        Assert.Equal(1, one.Ack.CumulativeUpTo);
        Assert.Equal(3, two.Ack.CumulativeUpTo);
        Assert.Equal(3, tracker.Watermark);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void OnProcessed_RandomOrderWithGaps_WatermarkIsJustBelowTheLowestUnprocessed(int seed)
    {
        var random = new Random(seed);
        var tracker = Started();
        // Every third sequence number is not for this subscription (a filter); the rest arrive in order (as a topic's
        // events do on a stream), interleaved with processing in a random order.
        var arrival = Enumerable.Range(1, 600).Where(n => n % 3 != 0).Select(n => (long)n).ToList();
        var unprocessed = new SortedSet<long>();
        var index = 0;
        while (index < arrival.Count || unprocessed.Count > 0)
        {
            if (index < arrival.Count && (unprocessed.Count == 0 || random.Next(2) == 0))
            {
                var sequence = arrival[index++];
                Assert.Equal(
                    DeliveryKind.New,
                    tracker.OnDelivery(sequence, $"a{sequence}", Session1, manual: false).Kind);
                unprocessed.Add(sequence);
                continue;
            }

            var done = unprocessed.ElementAt(random.Next(unprocessed.Count));
            unprocessed.Remove(done);
            Assert.True(tracker.OnProcessed(done, tracker.Generation).Known);
            var highest = arrival.Take(index).Max();
            var expected = unprocessed.Count > 0 ? unprocessed.Min - 1 : highest;
            Assert.Equal(expected, tracker.Watermark);
            Assert.Equal(DeliveryKind.Duplicate, tracker.OnDelivery(done, $"a{done}", Session1, manual: false).Kind);
        }

        Assert.Equal(0, tracker.PendingCount);
        Assert.Equal(0, tracker.ProcessedAboveCount);
    }

    [Fact]
    public void OnDelivery_ReplayAfterReconnect_ProcessedAreDuplicatesAckedOnNewStream()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "old-1", Session1, false);
        tracker.OnDelivery(2, "old-2", Session1, false);
        tracker.OnDelivery(3, "old-3", Session1, false);
        tracker.OnProcessed(1, tracker.Generation);
        tracker.OnProcessed(3, tracker.Generation);

        // The stream breaks; the client resumes after the watermark (1): 2 and 3 are replayed on the new stream.
        var resumeFrom = tracker.Watermark;
        var two = tracker.OnDelivery(2, "new-2", Session2, false);
        var three = tracker.OnDelivery(3, "new-3", Session2, false);
        var processedTwo = tracker.OnProcessed(2, tracker.Generation);

        Assert.Equal(1, resumeFrom);
        Assert.Equal(DeliveryKind.Duplicate, two.Kind);
        Assert.True(two.Ack.IsNone, "2 is still with the consumer");
        Assert.Equal(DeliveryKind.Duplicate, three.Kind);
        Assert.Equal(new AckAction(Session2, "t", 3, 0, "new-3"), three.Ack);
        Assert.Equal(Session2, processedTwo.Ack.SessionId);
        Assert.Equal(3, processedTwo.Ack.CumulativeUpTo);
    }

    [Fact]
    public void OnDelivery_BelowWatermark_DuplicateAckedCumulatively()
    {
        var tracker = Started(head: 10);

        var old = tracker.OnDelivery(7, "a7", Session2, false);

        Assert.Equal(DeliveryKind.Duplicate, old.Kind);
        Assert.Equal(10, old.Ack.CumulativeUpTo);
    }

    [Fact]
    public void ApplyConfirm_OtherEpoch_ResetsSoLowSequencesAreNew()
    {
        var tracker = Started(head: 0, epoch: "e1");
        for (var s = 1; s <= 5; s++)
        {
            tracker.OnDelivery(s, $"a{s}", Session1, false);
            tracker.OnProcessed(s, tracker.Generation);
        }

        var generation = tracker.Generation;
        var reset = tracker.ApplyConfirm("e2", replayFrom: 1, head: 2);
        var again = tracker.ApplyEpochChanged("e2");
        var one = tracker.OnDelivery(1, "b1", Session2, false);

        Assert.True(reset);
        Assert.False(again, "the error of the same epoch change does not reset twice");
        Assert.Equal(DeliveryKind.New, one.Kind);
        Assert.Equal(generation + 1, tracker.Generation);
        Assert.Equal("e2", tracker.Epoch);
    }

    [Fact]
    public void ApplyEpochChanged_EpochUnknownBefore_Resets()
    {
        var tracker = new TopicTracker("t");
        tracker.OnDelivery(5, "a5", Session1, false);
        tracker.OnProcessed(5, tracker.Generation);
        // The confirm of the new stream reports an epoch the tracker never knew: it cannot tell a change.
        Assert.False(tracker.ApplyConfirm("e2", replayFrom: 1, head: 3));

        var reset = tracker.ApplyEpochChanged("e2");

        Assert.True(reset);
        Assert.Equal(DeliveryKind.New, tracker.OnDelivery(1, "b1", Session2, false).Kind);
    }

    [Fact]
    public void OnProcessed_OlderGeneration_Ignored()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, false);
        var generation = tracker.Generation;
        tracker.ApplyEpochChanged("e2");
        tracker.OnDelivery(1, "b1", Session2, false);

        var stale = tracker.OnProcessed(1, generation);

        Assert.False(stale.Known);
        Assert.True(tracker.IsPending(1, tracker.Generation), "the new epoch's event 1 is still pending");
    }

    [Fact]
    public void OnAbandoned_BelowLimit_RedeliveryHandedOverAgain()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, false);
        tracker.OnHandedOut(1, tracker.Generation);

        var abandoned = tracker.OnAbandoned(1, tracker.Generation, maxAttempts: 3);
        var redelivery = tracker.OnDelivery(1, "a1", Session1, false);

        Assert.False(abandoned.GaveUp);
        Assert.True(abandoned.Ack.IsNone, "not acked: the gateway redelivers it");
        Assert.Equal(DeliveryKind.Again, redelivery.Kind);
        Assert.Equal(0, tracker.Watermark);
    }

    [Fact]
    public void OnGivenBack_ManyTimes_NeverGivenUpAndEachRedeliveryHandedOverAgain()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, false);
        var kinds = new List<DeliveryKind>();
        for (var i = 0; i < 10; i++)
        {
            tracker.OnHandedOut(1, tracker.Generation);
            Assert.True(tracker.OnGivenBack(1, tracker.Generation));
            kinds.Add(tracker.OnDelivery(1, "a1", Session1, false).Kind);
        }

        Assert.All(kinds, k => Assert.Equal(DeliveryKind.Again, k));
        Assert.True(tracker.IsPending(1, tracker.Generation));
        Assert.Equal(0, tracker.Watermark);
    }

    [Fact]
    public void TryGetDelivery_PendingAndProcessed_LatestStreamAndAckIdThenFalse()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, false);
        tracker.OnDelivery(1, "a1-again", Session1 + 1, false);

        var pending = tracker.TryGetDelivery(1, tracker.Generation, out var session, out var ackId);
        tracker.OnProcessed(1, tracker.Generation);
        var processed = tracker.TryGetDelivery(1, tracker.Generation, out _, out _);

        Assert.True(pending);
        Assert.Equal(Session1 + 1, session);
        Assert.Equal("a1-again", ackId);
        Assert.False(processed);
        Assert.False(tracker.OnGivenBack(1, tracker.Generation));
    }

    [Fact]
    public void OnAbandoned_AtLimit_GivenUpAndAcked()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, false);
        tracker.OnHandedOut(1, tracker.Generation);
        var first = tracker.OnAbandoned(1, tracker.Generation, maxAttempts: 2);
        tracker.OnDelivery(1, "a1", Session1, false);
        tracker.OnHandedOut(1, tracker.Generation);

        var last = tracker.OnAbandoned(1, tracker.Generation, maxAttempts: 2);

        Assert.False(first.GaveUp);
        Assert.True(last.GaveUp);
        Assert.Equal(2, last.Attempts);
        Assert.Equal(1, last.Ack.CumulativeUpTo);
        Assert.Equal(1, tracker.Watermark);
    }

    [Fact]
    public void OnDelivery_ManualModeRedeliveryOfUnackedHandedOut_HandedOverAgain()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, manual: true);
        tracker.OnHandedOut(1, tracker.Generation);

        var manual = tracker.OnDelivery(1, "a1", Session1, manual: true);

        Assert.Equal(DeliveryKind.Again, manual.Kind);
    }

    [Fact]
    public void OnDelivery_AutoModeRedeliveryWhileHandedOut_Dropped()
    {
        var tracker = Started();
        tracker.OnDelivery(1, "a1", Session1, manual: false);
        tracker.OnHandedOut(1, tracker.Generation);

        var auto = tracker.OnDelivery(1, "a1", Session1, manual: false);

        Assert.Equal(DeliveryKind.Duplicate, auto.Kind);
    }

    [Fact]
    public void OnDelivery_FirstSightWithoutConfirm_StartsJustBefore()
    {
        var tracker = new TopicTracker("new-topic");

        var first = tracker.OnDelivery(17, "a17", Session1, false);
        tracker.OnProcessed(17, tracker.Generation);

        Assert.Equal(DeliveryKind.New, first.Kind);
        Assert.Equal(17, tracker.Watermark);
    }
}
