using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Backends.File.Tests;

/// <summary>The storage contract (<see cref="IEventBackend"/>) held by every backend this project can start without
/// a server: the same tests, the backend a parameter. The Redis backend runs the same paths against real
/// redis-server processes in tests/Marie.Events.Client.Tests/Cluster.</summary>
public sealed class BackendContractTests
{
    public static TheoryData<string> Backends => new() { "memory", "file" };

    private sealed class Rig : IAsyncDisposable
    {
        private readonly TempFolder _folder = new();

        public Rig(string backend)
        {
            Backend = backend == "file"
                ? new FileEventBackend(new FileBackendOptions { Path = _folder.Path, ReplaySize = 50 })
                : new MemoryEventBackend();
            Broker = new GrpcEventBroker(
                new BrokerOptions { ReplaySize = 50 },
                new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000)),
                null,
                Backend);
        }

        public IEventBackend Backend { get; }

        public GrpcEventBroker Broker { get; }

        public async ValueTask DisposeAsync()
        {
            Broker.Dispose();
            await Backend.DisposeAsync();
            _folder.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task PublishAsync_Batches_NumberedContiguouslyFromOneUnderOneEpoch(string backend)
    {
        await using var rig = new Rig(backend);
        await rig.Broker.StartAsync();

        var first = await rig.Broker.PublishAsync("a", Node.Events("a", 1, 3));
        var second = await rig.Broker.PublishAsync("a", Node.Events("a", 4, 2));
        var other = await rig.Broker.PublishAsync("b", Node.Events("b", 1, 1));

        Assert.Equal((1L, 4L, 1L), (first.FirstSequence, second.FirstSequence, other.FirstSequence));
        Assert.Equal(first.Epoch, second.Epoch);
        Assert.Equal(5, rig.Broker.Stats().TopicStats["a"].Head);
        Assert.Equal(first.Epoch, rig.Broker.Stats().TopicStats["a"].Epoch);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task PublishAsync_Subscribed_EventsOfferedInSequenceOrderBeforeTheAppendCompletes(string backend)
    {
        await using var rig = new Rig(backend);
        await rig.Broker.StartAsync();
        var connection = rig.Broker.Connect("c1");
        await connection.HandleAsync(
            new ClientMessage { Subscribe = new SubscribeRequest { SubscriptionId = "s1", Topics = { "a" } } });

        await rig.Broker.PublishAsync("a", Node.Events("a", 1, 4));

        var sequences = new List<long>();
        var frame = new OutboundFrame();
        while (connection.TryReadFrame(frame))
        {
            var message = frame.ToMessage();
            if (message.MessageCase == ServerMessage.MessageOneofCase.Event)
            {
                sequences.Add(message.Event.SequenceNum);
            }
        }

        Assert.Equal([1L, 2L, 3L, 4L], sequences);
        connection.Dispose();
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ReadDescribeList_AfterAppends_AnswerWhatIsHeld(string backend)
    {
        await using var rig = new Rig(backend);
        await rig.Broker.StartAsync();
        await rig.Broker.PublishAsync("a", Node.Events("a", 1, 5));

        var read = await rig.Backend.ReadAsync("a", 2, 4, CancellationToken.None);
        var described = await rig.Backend.DescribeAsync(["a", "missing"], CancellationToken.None);
        var topics = await rig.Backend.ListTopicsAsync(CancellationToken.None);

        Assert.Equal([2L, 3L, 4L], read.Select(e => e.Sequence));
        Assert.Equal(["a-2", "a-3", "a-4"], read.Select(e => e.Event.Event));
        Assert.Equal((5L, 1L), (described["a"].Head, described["a"].FirstAvailable));
        Assert.False(described.ContainsKey("missing"));
        Assert.Equal(["a"], topics);
    }
}
