using BenchmarkDotNet.Attributes;
using Marie.Events.Broker;

namespace Marie.Events.Benchmarks;

/// <summary>
/// The redelivery timer's pass over a connection with N events in flight, none due yet (the common case): the
/// broker advances fake time by one redelivery interval, the timer scans every in-flight entry. Per operation: one
/// pass.
/// </summary>
[MemoryDiagnoser]
public class RedeliveryBenchmarks
{
    private BenchBroker _bench = null!;

    [Params(1_000, 10_000)]
    public int InFlight { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // An ack timeout of ~31 years and a heartbeat every ~12 days (timers take at most ~49 days): nothing becomes
        // due while the clock advances 5 s per operation.
        _bench = new BenchBroker(o =>
        {
            o.MaxInFlight = InFlight;
            o.ReplaySize = InFlight;
            o.AckTimeoutSeconds = 1e9;
            o.HeartbeatIntervalSeconds = 1e6;
        });
        var evt = BenchBroker.Event("t");
        var connection = _bench.Subscribe("s", "t");
        for (var i = 0; i < InFlight; i++)
        {
            _bench.Publish(evt);
        }

        _bench.Drain(connection);
    }

    [Benchmark]
    public void CheckNoneDue() =>
        _bench.Time.Advance(TimeSpan.FromSeconds(_bench.Broker.Options.RedeliveryDelaySeconds));
}
