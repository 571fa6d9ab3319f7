using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace Marie.Events.LoadTest.Infra;

/// <summary>
/// The garbage collector of a .NET server under test, watched from outside through an EventPipe session (the
/// runtime's GC events, the way <c>dotnet-trace</c> collects them): each pause (from suspending the runtime to
/// restarting it) and the allocation samples (one event per ~100 KB allocated). A round's figures are read from the
/// events stamped inside its time window, once the round is over (the session delivers events with a delay).
/// </summary>
internal sealed class GcMonitor : IAsyncDisposable
{
    /// <summary>The runtime's GC keyword; at verbose level it includes the allocation samples.</summary>
    private const long GcKeyword = 0x1;

    private readonly Lock _gate = new();
    private readonly List<(DateTime At, double Ms)> _pauses = [];
    private readonly List<(DateTime At, long Bytes)> _allocations = [];
    private readonly EventPipeSession _session;
    private readonly Task _reader;
    private DateTime? _suspended;

    /// <summary>The newest event's time stamp (UTC ticks).</summary>
    private long _latest;

    private GcMonitor(EventPipeSession session)
    {
        _session = session;
        _reader = Task.Factory.StartNew(Read, TaskCreationOptions.LongRunning);
    }

    /// <summary>Starts watching <paramref name="pid"/>; null when it is not a .NET process (nats-server) or does
    /// not answer.</summary>
    public static GcMonitor? TryStart(int pid)
    {
        try
        {
            var client = new DiagnosticsClient(pid);
            var session = client.StartEventPipeSession(
                [new EventPipeProvider(ClrTraceEventParser.ProviderName, System.Diagnostics.Tracing.EventLevel.Verbose,
                    GcKeyword)],
                requestRundown: false,
                circularBufferMB: 64);
            return new GcMonitor(session);
        }
        catch (Exception e) when (e is ServerNotAvailableException or TimeoutException or IOException
            or UnsupportedCommandException)
        {
            return null;
        }
    }

    private void Read()
    {
        using var source = new EventPipeEventSource(_session.EventStream);
        source.AllEvents += e => Volatile.Write(ref _latest, e.TimeStamp.ToUniversalTime().Ticks);
        source.Clr.GCSuspendEEStart += e => _suspended = e.TimeStamp.ToUniversalTime();
        source.Clr.GCRestartEEStop += e =>
        {
            if (_suspended is { } start)
            {
                var end = e.TimeStamp.ToUniversalTime();
                lock (_gate)
                {
                    _pauses.Add((end, (end - start).TotalMilliseconds));
                }
            }

            _suspended = null;
        };
        source.Clr.GCAllocationTick += e =>
        {
            lock (_gate)
            {
                _allocations.Add((e.TimeStamp.ToUniversalTime(), e.AllocationAmount64));
            }
        };
        try
        {
            source.Process();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or EndOfStreamException)
        {
            // The server exited or the session was stopped.
        }
    }

    /// <summary>Waits until an event stamped after <paramref name="time"/> (UTC) has arrived, or for
    /// <paramref name="limit"/>: the session hands events over in batches, and an idle server sends few.</summary>
    public async Task WaitPastAsync(DateTime time, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (Volatile.Read(ref _latest) < time.Ticks && DateTime.UtcNow < deadline)
        {
            // Polled: the reader thread has no signal to wait on, and this runs once per workload.
            await Task.Delay(50);
        }
    }

    /// <summary>The pauses and the bytes allocated between <paramref name="from"/> and <paramref name="to"/>
    /// (UTC).</summary>
    public GcWindow Window(DateTime from, DateTime to)
    {
        lock (_gate)
        {
            var pauses = _pauses.Where(p => p.At >= from && p.At < to).Select(p => p.Ms).ToList();
            var bytes = _allocations.Where(a => a.At >= from && a.At < to).Sum(a => a.Bytes);
            return new GcWindow(pauses.Sum(), pauses.Count == 0 ? 0 : pauses.Max(), bytes);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _session.Stop();
        }
        catch (Exception e) when (e is ServerNotAvailableException or TimeoutException or IOException)
        {
            // The server is gone already.
        }

        await _reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _session.Dispose();
    }
}

/// <summary>What the collector did in one window: its pauses (total and longest, in ms) and the bytes allocated
/// (from the runtime's allocation samples).</summary>
internal readonly record struct GcWindow(double PauseMs, double MaxPauseMs, long AllocatedBytes)
{
    public static GcWindow operator +(GcWindow a, GcWindow b) => new(
        a.PauseMs + b.PauseMs, Math.Max(a.MaxPauseMs, b.MaxPauseMs), a.AllocatedBytes + b.AllocatedBytes);
}
