using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>The broker as a backend's listener: events stored at the sequence numbers their backend assigned, the
/// one path into the rings for events published here and elsewhere.</summary>
public sealed class ApplyTests
{
    private const string SharedEpoch = "00112233445566aa";

    private static ApplyOutcome Apply(
        TestBroker t,
        long sequence,
        string epoch = SharedEpoch,
        bool allowGap = false,
        string topic = "a")
    {
        var one = new BackendEvent(sequence, Ev.Make(topic), TestBroker.StartTime);
        return t.Broker.Apply(topic, epoch, new ReadOnlySpan<BackendEvent>(in one), allowGap);
    }

    [Fact]
    public async Task Apply_InOrder_DeliveredAtTheGivenSequenceWithTheBackendsEpoch()
    {
        using var t = new TestBroker(backend: new SharedStoreDouble());
        var connection = await t.ConnectAndSubscribeAsync(Msg.Sub("s1", "a"));
        var confirm = Assert.Single(connection.All().Confirms());
        // Created by the subscription before its first event: no epoch yet.
        Assert.Equal("", confirm.TopicEpochs["a"]);

        Assert.Equal(ApplyOutcome.Applied, Apply(t, 1));
        Assert.Equal(ApplyOutcome.Applied, Apply(t, 2));

        Assert.Equal(Drain.Range(1, 2), connection.All().Events().Seqs());
        Assert.Equal(new TopicPosition(SharedEpoch, 2), t.Broker.GetTopicPosition("a"));
    }

    [Fact]
    public void Apply_HeldOrAheadOfHead_NotStored()
    {
        using var t = new TestBroker();
        Assert.Equal(ApplyOutcome.Applied, Apply(t, 1));

        Assert.Equal(ApplyOutcome.AlreadyHeld, Apply(t, 1));
        Assert.Equal(ApplyOutcome.Gap, Apply(t, 3));
        Assert.Equal(1, t.Broker.GetTopicPosition("a")!.Value.Head);
    }

    [Fact]
    public async Task Apply_AllowGap_SkippedNumbersReadAsLost()
    {
        using var t = new TestBroker();
        Apply(t, 1);
        Assert.Equal(ApplyOutcome.Applied, Apply(t, 3, allowGap: true));

        var request = Msg.Sub("s1", "a");
        request.ResumeFrom["a"] = 0;
        var connection = await t.ConnectAndSubscribeAsync(request);

        var messages = connection.All();
        Assert.Equal([1L, 3L], messages.Events().Seqs());
        var lost = Assert.Single(messages.Errors());
        Assert.Equal(ErrorCode.ErrorEventsLost, lost.Code);
        Assert.Equal("2", lost.Details["first_missed"]);
    }

    [Fact]
    public async Task Reset_AfterEpochChange_NewEmptyRingAndSubscribedConnectionsClosed()
    {
        using var t = new TestBroker();
        Apply(t, 1);
        Apply(t, 2);
        var subscribed = await t.ConnectAndSubscribeAsync(Msg.Sub("s1", "a"));
        Assert.Equal(ApplyOutcome.EpochChanged, Apply(t, 1, epoch: "ffffffffffffffff"));

        Assert.Equal(1, t.Broker.Reset("a", "ffffffffffffffff"));

        // Closed: its queue is completed, so its stream ends and the client resumes elsewhere or again.
        Assert.False(await subscribed.WaitToReadAsync());
        Assert.Equal(new TopicPosition("ffffffffffffffff", 0), t.Broker.GetTopicPosition("a"));
        Assert.Equal(ApplyOutcome.Applied, Apply(t, 1, epoch: "ffffffffffffffff"));
    }

    [Fact]
    public async Task Apply_BatchWithHeldPrefix_StoresOnlyTheNewEventsInOrder()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync(Msg.Sub("s1", "a"));
        Apply(t, 1);
        BackendEvent[] batch =
        [
            new(1, Ev.Make("a"), TestBroker.StartTime),
            new(2, Ev.Make("a"), TestBroker.StartTime),
            new(3, Ev.Make("a"), TestBroker.StartTime),
        ];

        Assert.Equal(ApplyOutcome.Applied, t.Broker.Apply("a", SharedEpoch, batch, allowGap: false));

        Assert.Equal(Drain.Range(1, 3), connection.All().Events().Seqs());
        Assert.Equal(3, t.Stats().EventsPublished);
    }

    /// <summary>A shared store (as Redis is) as far as the broker sees it before any event: epochs are learnt from
    /// the store, so a topic created here starts with none.</summary>
    private sealed class SharedStoreDouble : IEventBackend
    {
        public string Name => "shared-double";

        public string InitialEpoch(string topic) => "";

        public Task<BackendLoad> StartAsync(
            IEventBackendListener listener,
            CancellationToken cancellationToken) => Task.FromResult(default(BackendLoad));

        public ValueTask<AppendResult> AppendAsync(
            string topic,
            IReadOnlyList<EventData> events,
            DateTimeOffset publishedAt,
            CancellationToken cancellationToken) =>
            throw new BackendException("this double takes no appends");

        public ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(
            string topic,
            long first,
            long last,
            CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyList<BackendEvent>>([]);

        public ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
            IReadOnlyCollection<string> topics,
            CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyDictionary<string, BackendTopic>>(new Dictionary<string, BackendTopic>());

        public ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyList<string>>([]);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
