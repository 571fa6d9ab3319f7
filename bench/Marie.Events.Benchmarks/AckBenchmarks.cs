using BenchmarkDotNet.Attributes;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;

namespace Marie.Events.Benchmarks;

/// <summary>
/// Settling 1,000 in-flight deliveries of one subscription: one individual ack per message, individual acks of 64
/// ids per message, or cumulative acks every 64. Figures are per settled delivery (the client messages are built in
/// the iteration setup, not measured).
/// </summary>
[MemoryDiagnoser]
public class AckBenchmarks
{
    private const int InFlight = 1000;
    private const int Batch = 64;

    private BenchBroker _bench = null!;
    private BrokerConnection _connection = null!;
    private EventData _event = null!;
    private ClientMessage[] _individual = [];
    private ClientMessage[] _batched = [];
    private ClientMessage[] _cumulative = [];

    [GlobalSetup]
    public void Setup()
    {
        _bench = new BenchBroker(o => o.MaxInFlight = InFlight);
        _event = BenchBroker.Event("t");
        _connection = _bench.Subscribe("s", "t");
    }

    /// <summary>Publishes 1,000 events, writes them (in flight, not queued) and builds the ack messages for
    /// them.</summary>
    [IterationSetup]
    public void Deliver()
    {
        long first = 0, last = 0;
        for (var i = 0; i < InFlight; i++)
        {
            last = _bench.Publish(_event);
            first = first == 0 ? last : first;
        }

        _bench.Drain(_connection);
        var ids = new List<string>();
        for (var sequence = first; sequence <= last; sequence++)
        {
            ids.Add(AckIds.For(_connection, sequence));
        }

        _individual = [.. ids.Select(id => Individual([id]))];
        _batched = [.. ids.Chunk(Batch).Select(Individual)];
        _cumulative = [.. Enumerable.Range(0, (InFlight + Batch - 1) / Batch).Select(i => new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = "s",
                Cumulative = new CumulativeAck
                {
                    Topic = "t",
                    UpToSequenceNum = Math.Min(last, first + (i + 1) * Batch - 1),
                },
            },
        })];
    }

    private static ClientMessage Individual(IEnumerable<string> ids)
    {
        var ack = new IndividualAck();
        ack.AckIds.AddRange(ids);
        return new ClientMessage { Ack = new AckMessage { SubscriptionId = "s", Individual = ack } };
    }

    [Benchmark(OperationsPerInvoke = InFlight)]
    public void IndividualOnePerMessage()
    {
        foreach (var message in _individual)
        {
            BenchBroker.Handle(_connection, message);
        }
    }

    [Benchmark(OperationsPerInvoke = InFlight)]
    public void Individual64PerMessage()
    {
        foreach (var message in _batched)
        {
            BenchBroker.Handle(_connection, message);
        }
    }

    [Benchmark(OperationsPerInvoke = InFlight)]
    public void CumulativeEvery64()
    {
        foreach (var message in _cumulative)
        {
            BenchBroker.Handle(_connection, message);
        }
    }
}

/// <summary>The ack id of the only subscription (number 1) on its only topic (number 1) of a connection.</summary>
internal static class AckIds
{
    public static string For(BrokerConnection connection, long sequence) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{connection.Tag}.1.1.{sequence}");
}
