using System.Diagnostics;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Targets;

namespace Marie.Events.LoadTest.Workloads;

/// <summary>A fan-out shape: topics, subscribers, job ids, producers, connection sharing, producer window.</summary>
/// <param name="Jobs">1: events carry one job id and subscribers take everything (W1). More: events are spread over
/// this many job ids and each subscriber filters on its own one (W2; SubscribersPerTopic must equal Jobs).</param>
/// <param name="PerConnection">Subscriptions sharing one connection (HTTP/2 or NATS).</param>
/// <param name="Window">Events a topic's subscribers may be behind on average before producers wait.</param>
internal sealed record FanoutShape(
    WorkloadShape Shape,
    int SubscribersPerTopic,
    int Jobs,
    int Producers,
    int PerConnection,
    long Window)
{
    public bool FilterByJob => Jobs > 1;

    /// <summary>Deliveries per published event.</summary>
    public int Fanout => FilterByJob ? 1 : SubscribersPerTopic;

    public string[] JobNames { get; } = [.. Enumerable.Range(0, Jobs).Select(j => $"job-{j:D6}")];
}

/// <summary>What one measured round gave.</summary>
/// <param name="ServerSegments">TCP data segments the server sent (<see cref="ProcStat.TcpDataSegmentsOut"/>); null
/// when <c>ss</c> is not installed.</param>
/// <param name="ServerSwitches">Context switches of the server's threads
/// (<see cref="ProcStat.ContextSwitches"/>).</param>
/// <param name="From">When the measurement started (UTC; for <see cref="GcMonitor.Window"/>).</param>
/// <param name="To">When it ended (UTC).</param>
internal sealed record RoundResult(
    double Seconds,
    long Deliveries,
    long Published,
    double ServerCpu,
    double DriverCpu,
    double OtherCpu,
    long Lost,
    long? ServerSegments = null,
    long ServerSwitches = 0,
    DateTime From = default,
    DateTime To = default)
{
    public double DeliveriesPerSecond => Deliveries / Seconds;

    public double EventsPerSecond => Published / Seconds;

    /// <summary>The server's TCP sends per 1,000 deliveries, null when not measured.</summary>
    public double? SendsPerThousand =>
        ServerSegments is { } segments ? TransportFigures.PerThousand(segments, Deliveries) : null;

    /// <summary>The server's context switches per 1,000 deliveries.</summary>
    public double SwitchesPerThousand => TransportFigures.PerThousand(ServerSwitches, Deliveries);

    public static RoundResult Sum(IReadOnlyList<RoundResult> rounds) => new(
        rounds.Sum(r => r.Seconds), rounds.Sum(r => r.Deliveries), rounds.Sum(r => r.Published),
        rounds.Sum(r => r.ServerCpu), rounds.Sum(r => r.DriverCpu), rounds.Sum(r => r.OtherCpu),
        rounds.Sum(r => r.Lost),
        rounds.Any(r => r.ServerSegments is null) ? null : rounds.Sum(r => r.ServerSegments!.Value),
        rounds.Sum(r => r.ServerSwitches),
        rounds.Count == 0 ? default : rounds.Min(r => r.From),
        rounds.Count == 0 ? default : rounds.Max(r => r.To));
}

/// <summary>Counters, the server's CPU, this process's CPU and the machine's busy time at one instant; then the
/// server's TCP segments and context switches (read last: <c>ss</c> takes some milliseconds).</summary>
internal readonly record struct Snapshot(
    long Ticks,
    long Received,
    long Published,
    double ServerCpu,
    double DriverCpu,
    double MachineBusy,
    long? ServerSegments,
    long ServerSwitches,
    DateTime Utc)
{
    public static Snapshot Take(IBenchTarget target, Flow flow)
    {
        var utc = DateTime.UtcNow;
        var ticks = Stopwatch.GetTimestamp();
        var received = flow.Received;
        var published = flow.Published;
        var server = target.Server.CpuSeconds();
        var driver = ProcStat.CpuSeconds(Environment.ProcessId);
        var busy = ProcStat.MachineBusySeconds();
        return new Snapshot(ticks, received, published, server, driver, busy,
            ProcStat.TcpDataSegmentsOut(target.Server.Pid), ProcStat.ContextSwitches(target.Server.Pid), utc);
    }

    /// <summary>From <paramref name="start"/> to this snapshot; other processes' CPU = machine busy - server -
    /// driver.</summary>
    public RoundResult Since(Snapshot start, long lost)
    {
        var seconds = (Ticks - start.Ticks) / (double)Stopwatch.Frequency;
        var server = ServerCpu - start.ServerCpu;
        var driver = DriverCpu - start.DriverCpu;
        var other = Math.Max(0, MachineBusy - start.MachineBusy - server - driver);
        return new RoundResult(
            seconds,
            Received - start.Received,
            Published - start.Published,
            server,
            driver,
            other,
            lost,
            ServerSegments - start.ServerSegments,
            ServerSwitches - start.ServerSwitches,
            start.Utc,
            Utc);
    }
}

/// <summary>The pieces every workload uses: subscribing many at once, producing, closing.</summary>
internal static class Rounds
{
    /// <summary>Subscriptions opened at once (each waits for its confirm).</summary>
    private const int SubscribeConcurrency = 64;

    public static IReadOnlyList<SubscribeSpec> Specs(FanoutShape shape, string round, bool fromStart = false)
    {
        var specs = new List<SubscribeSpec>();
        for (var topic = 0; topic < shape.Shape.Topics; topic++)
        {
            for (var s = 0; s < shape.SubscribersPerTopic; s++)
            {
                var index = specs.Count;
                specs.Add(new SubscribeSpec(
                    $"{shape.Shape.Workload}-{round}-s{index}",
                    shape.Shape,
                    topic,
                    index / shape.PerConnection,
                    shape.FilterByJob ? shape.JobNames[s] : null,
                    fromStart));
            }
        }

        return specs;
    }

    public static async Task<IAsyncDisposable[]> SubscribeAllAsync(
        IBenchTarget target,
        IReadOnlyList<SubscribeSpec> specs,
        Flow flow,
        CancellationToken cancellationToken)
    {
        var handles = new IAsyncDisposable?[specs.Count];
        using var gate = new SemaphoreSlim(SubscribeConcurrency);
        var tasks = specs.Select(async (spec, i) =>
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                handles[i] = await target.SubscribeAsync(spec, flow, cancellationToken);
            }
            finally
            {
                gate.Release();
            }
        }).ToArray();
        try
        {
            await Task.WhenAll(tasks);
        }
        catch
        {
            await DisposeAllAsync(handles);
            throw;
        }

        return handles!;
    }

    public static async Task DisposeAllAsync(IEnumerable<IAsyncDisposable?> handles) =>
        await Task.WhenAll(handles.Where(h => h is not null).Select(h => h!.DisposeAsync().AsTask()));

    /// <summary>
    /// One producer: cycles over the topics (and job ids), waits for room in the flow window, publishes. At a fixed
    /// rate (events/s for this producer) it sends what is due every millisecond; otherwise as fast as the window
    /// allows.
    /// </summary>
    public static async Task ProduceAsync(
        IBenchPublisher publisher,
        int index,
        FanoutShape shape,
        Flow flow,
        double? rate,
        CancellationToken cancellationToken)
    {
        var factory = new EventFactory(index);
        var topics = Enumerable.Range(0, shape.Shape.Topics).Select(shape.Shape.Topic).ToArray();
        var interval = rate is { } r ? Stopwatch.Frequency / r : 0;
        var due = (double)Stopwatch.GetTimestamp();
        // Producers start on different topics and job ids, so they do not move in lockstep.
        long n = index * 7;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (rate is not null)
                {
                    while (Stopwatch.GetTimestamp() < due)
                    {
                        await Task.Delay(1, cancellationToken);
                    }

                    due += interval;
                }

                var topic = (int)(n % topics.Length);
                var job = shape.JobNames[(int)(n / topics.Length % shape.JobNames.Length)];
                await flow.WaitForRoomAsync(topic, cancellationToken);
                await publisher.PublishAsync(factory.Create(topics[topic], job), cancellationToken);
                flow.OnPublished(topic);
                n++;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The round ended.
        }
    }

    /// <summary>Fills each topic with <paramref name="perTopic"/> events (W5's full rings), all acknowledged.</summary>
    public static async Task PrefillAsync(
        IBenchTarget target,
        FanoutShape shape,
        int perTopic,
        CancellationToken cancellationToken)
    {
        var publishers = new List<IBenchPublisher>();
        try
        {
            for (var p = 0; p < shape.Producers; p++)
            {
                publishers.Add(await target.OpenPublisherAsync(p, cancellationToken));
            }

            var total = (long)perTopic * shape.Shape.Topics;
            var next = -1L;
            await Task.WhenAll(publishers.Select(async (publisher, p) =>
            {
                var factory = new EventFactory(p);
                long i;
                while ((i = Interlocked.Increment(ref next)) < total)
                {
                    var topic = (int)(i % shape.Shape.Topics);
                    await publisher.PublishAsync(
                        factory.Create(shape.Shape.Topic(topic), shape.JobNames[0]),
                        cancellationToken);
                }

                await publisher.FlushAsync(cancellationToken);
            }));
        }
        finally
        {
            await DisposeAllAsync(publishers);
        }
    }
}

/// <summary>The transport figures of a row.</summary>
internal static class TransportFigures
{
    /// <summary><paramref name="count"/> per 1,000 deliveries.</summary>
    public static double PerThousand(long count, long deliveries) => count * 1000.0 / Math.Max(1, deliveries);

    /// <summary>Adds the server's TCP sends (when measured) and context switches per 1,000 deliveries.</summary>
    public static Report.TargetRow SetTransport(this Report.TargetRow row, RoundResult sum)
    {
        if (sum.SendsPerThousand is { } sends)
        {
            row.Set(Report.Metrics.SendsPerThousand, sends);
        }

        return row.Set(Report.Metrics.SwitchesPerThousand, sum.SwitchesPerThousand);
    }
}
