using BenchmarkDotNet.Attributes;
using Marie.Events.Client.Internal;

namespace Marie.Events.Benchmarks;

/// <summary>
/// The client library's bookkeeping per received event (<c>TopicTracker</c>): 1,000 deliveries of one topic, each
/// processed <see cref="Lag"/> events later (the subscription's buffer between the stream reader and the consumer), in
/// order or every other pair swapped (two handlers finishing out of order). Figures are per event: delivery, processing
/// and the watermark move that makes the ack cumulative.
/// </summary>
[MemoryDiagnoser]
public class ClientTrackerBenchmarks
{
    private const int Events = 1000;

    /// <summary>Events between a delivery and its processing.</summary>
    [Params(1, 64)]
    public int Lag { get; set; }

    /// <summary>Whether processing swaps every other pair.</summary>
    [Params(false, true)]
    public bool Swapped { get; set; }

    private string[] _ackIds = [];
    private long[] _processingOrder = [];

    [GlobalSetup]
    public void Setup()
    {
        _ackIds = [.. Enumerable.Range(1, Events).Select(i => $"t:s:{i}")];
        // Swapped: 2, 1, 3, 4, 6, 5, 7, 8, ... (the first two of every four finish in the opposite order).
        _processingOrder = [.. Enumerable.Range(1, Events).Select(i => (long)(!Swapped ? i : (i % 4) switch
        {
            1 => i + 1,
            2 => i - 1,
            _ => i,
        }))];
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public long DeliverAndProcess()
    {
        var tracker = new TopicTracker("t");
        tracker.ApplyConfirm("e1", replayFrom: 0, head: 0);
        for (var i = 0; i < Events + Lag; i++)
        {
            if (i < Events)
            {
                tracker.OnDelivery(i + 1, _ackIds[i], sessionId: 1, manual: false);
            }

            if (i >= Lag)
            {
                var sequence = _processingOrder[i - Lag];
                tracker.OnHandedOut(sequence, tracker.Generation);
                tracker.OnProcessed(sequence, tracker.Generation);
            }
        }

        return tracker.Watermark;
    }
}
