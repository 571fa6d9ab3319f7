using System.Diagnostics;
using System.Globalization;

namespace Marie.Events.LoadTest.Infra;

/// <summary>
/// Counts what producers published and subscribers received, per topic, and paces the producers: a producer waits
/// while a topic's subscribers are more than <see cref="Window"/> events behind on average. Every target then runs
/// at its own sustainable rate with bounded queues, and no subscriber falls out of a replay ring or stream limit.
/// </summary>
internal sealed class Flow
{
    private readonly Counter[] _published;
    private readonly Counter[] _received;
    private readonly int[] _fanout;
    private long _lost;

    public Flow(int topics, int fanoutPerTopic, long window, LatencyHistogram? latency = null)
    {
        _published = [.. Enumerable.Range(0, topics).Select(_ => new Counter())];
        _received = [.. Enumerable.Range(0, topics).Select(_ => new Counter())];
        _fanout = [.. Enumerable.Repeat(fanoutPerTopic, topics)];
        Window = window;
        Latency = latency;
    }

    public long Window { get; }

    /// <summary>WG: each delivery counted by sequence number (null: only counted per topic).</summary>
    public DeliveryTally? Tally { get; init; }

    /// <summary>Where publish-to-receive latencies go (null: not measured in this workload).</summary>
    public LatencyHistogram? Latency { get; }

    /// <summary>Latencies are recorded only for events published after this timestamp (the warm-up is
    /// skipped).</summary>
    public long RecordLatencyAfter { get; set; } = long.MaxValue;

    public long Published => _published.Sum(c => Interlocked.Read(ref c.Value));

    public long Received => _received.Sum(c => Interlocked.Read(ref c.Value));

    public long ReceivedOn(int topic) => Interlocked.Read(ref _received[topic].Value);

    /// <summary>Events-lost notices (ours) seen by subscribers: should stay 0 (the window is far below the
    /// ring).</summary>
    public long Lost => Interlocked.Read(ref _lost);

    public bool HasRoom(int topic)
    {
        var behind = Interlocked.Read(ref _published[topic].Value) * _fanout[topic]
            - Interlocked.Read(ref _received[topic].Value);
        return behind <= Window * _fanout[topic];
    }

    /// <summary>Waits (1 ms steps) until the topic has room, or the run ends.</summary>
    public async ValueTask WaitForRoomAsync(int topic, CancellationToken cancellationToken)
    {
        while (!HasRoom(topic))
        {
            await Task.Delay(1, cancellationToken);
        }
    }

    public void OnPublished(int topic) => Interlocked.Increment(ref _published[topic].Value);

    /// <summary>One event received; <paramref name="jobtag"/> carries its publish timestamp (Stopwatch
    /// ticks).</summary>
    public void OnReceived(int topic, string jobtag)
    {
        Interlocked.Increment(ref _received[topic].Value);
        if (Latency is not null
            && long.TryParse(jobtag, NumberStyles.None, CultureInfo.InvariantCulture, out var sentAt)
            && sentAt >= RecordLatencyAfter)
        {
            var micros = (Stopwatch.GetTimestamp() - sentAt) * 1_000_000.0 / Stopwatch.Frequency;
            Latency.Record(micros);
        }
    }

    public void OnLost() => Interlocked.Increment(ref _lost);

    /// <summary>A counter on its own cache line (the subscriber loops of different cores update neighbours).</summary>
    private sealed class Counter
    {
#pragma warning disable CS0169, IDE0051 // padding
        private readonly long _p1, _p2, _p3, _p4, _p5, _p6, _p7;
#pragma warning restore CS0169, IDE0051
        public long Value;
    }
}
