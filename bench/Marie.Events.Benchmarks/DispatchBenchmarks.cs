using BenchmarkDotNet.Attributes;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Benchmarks;

/// <summary>
/// Publish one event to a topic with N matching subscriptions (each on its own connection), then write every
/// connection's frames as the gateway's writer would; cumulative acks every 64 events keep the subscriptions under
/// max_in_flight. Allocated bytes per operation / N = allocation per delivery. With <see cref="Durable"/>, every
/// subscription is a durable one's only member: the durable's claim and settle on each delivery.
/// </summary>
[MemoryDiagnoser]
public class DispatchBenchmarks
{
    /// <summary>Events between two cumulative acks of a subscription (as the load test's subscribers do).</summary>
    private const int AckEvery = 64;

    private BenchBroker _bench = null!;
    private BrokerConnection[] _connections = [];
    private ClientMessage[] _acks = [];
    private EventData _event = null!;
    private long _published;

    [Params(1, 10, 100)]
    public int Subscriptions { get; set; }

    /// <summary>Every subscription durable (a durable name each, issue 15's W1D in small).</summary>
    [Params(false, true)]
    public bool Durable { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _bench = new BenchBroker();
        _event = BenchBroker.Event("t");
        _connections = [.. Enumerable.Range(0, Subscriptions).Select(i => _bench.Subscribe(
            $"s{i}", "t", durableName: Durable ? $"d{i}" : null))];
        _acks = [.. Enumerable.Range(0, Subscriptions).Select(i => BenchBroker.CumulativeAck($"s{i}", "t"))];
        if (Durable && _bench.Broker.Durables.Count != Subscriptions)
        {
            throw new InvalidOperationException($"{_bench.Broker.Durables.Count} durables, not {Subscriptions}");
        }
    }

    [Benchmark]
    public int PublishAndWrite()
    {
        var sequence = _bench.Publish(_event);
        var frames = 0;
        foreach (var connection in _connections)
        {
            frames += _bench.Drain(connection);
        }

        if (++_published % AckEvery == 0)
        {
            for (var i = 0; i < _connections.Length; i++)
            {
                _acks[i].Ack.Cumulative.UpToSequenceNum = sequence;
                BenchBroker.Handle(_connections[i], _acks[i]);
            }
        }

        return frames;
    }
}
