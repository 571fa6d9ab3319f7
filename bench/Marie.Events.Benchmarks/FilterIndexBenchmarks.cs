using BenchmarkDotNet.Attributes;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Benchmarks;

/// <summary>
/// One topic with N subscriptions on one connection, each matching one event in N. Indexed: each filters on its own
/// job id (the topic's job-id index offers an event only to its job's subscriptions: flat in N). Not indexed: each
/// filters on its own source (every subscription is offered every event: linear in N). Per operation: one publish,
/// one delivery written, one ack.
/// </summary>
[MemoryDiagnoser]
public class FilterIndexBenchmarks
{
    private BenchBroker _bench = null!;
    private BrokerConnection _connection = null!;
    private EventData[] _events = [];
    private ClientMessage[] _acks = [];
    private int _next;

    [Params(100, 1_000, 10_000)]
    public int Subscriptions { get; set; }

    [Params(true, false)]
    public bool Indexed { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _bench = new BenchBroker(o => o.ReplaySize = 16_384);
        _connection = _bench.Broker.Connect();
        _events = new EventData[Subscriptions];
        _acks = new ClientMessage[Subscriptions];
        for (var i = 0; i < Subscriptions; i++)
        {
            var job = $"job-{i:D6}";
            var source = $"job://source-{i:D6}";
            var filter = new FilterConfig();
            if (Indexed)
            {
                filter.Jobids.Add(job);
            }
            else
            {
                filter.IncludeSources.Add(source);
            }

            _bench.Subscribe($"s{i}", "t", filter, _connection);
            _events[i] = BenchBroker.Event("t", job, source);
            _acks[i] = BenchBroker.CumulativeAck($"s{i}", "t");
        }
    }

    [Benchmark]
    public int PublishOneMatch()
    {
        var i = _next;
        _next = (_next + 1) % Subscriptions;
        var sequence = _bench.Publish(_events[i]);
        var frames = _bench.Drain(_connection);
        _acks[i].Ack.Cumulative.UpToSequenceNum = sequence;
        BenchBroker.Handle(_connection, _acks[i]);
        return frames;
    }
}
