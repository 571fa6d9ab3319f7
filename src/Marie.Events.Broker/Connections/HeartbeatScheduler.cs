namespace Marie.Events.Broker.Connections;

/// <summary>
/// One timer for every connection's heartbeats, instead of a timer per connection: each connection keeps its next due
/// time, and a tick every <see cref="Tick"/> queues the heartbeats that are due. An idle stream costs a slot in an
/// array and a number, not a timer object (what keeps 10,000 idle streams cheap), and the timer queue holds one
/// entry however many streams are open. A heartbeat goes out at the first tick at or after its due time: at most one
/// tick late, and every <c>heartbeat_interval_s</c> on average (the next due time counts from the previous one). The
/// timer runs while connections exist and starts again, in phase with the new connection, after they all closed.
/// </summary>
internal sealed class HeartbeatScheduler
{
    /// <summary>8 ticks per interval: a heartbeat is at most 1/8 of the interval late.</summary>
    private const int TicksPerInterval = 8;

    /// <summary>At most 1 s between ticks (the default 15 s interval ticks every second): at most 1 s late.</summary>
    private static readonly TimeSpan MaxTick = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time;
    private readonly long _intervalStamps;
    private readonly Lock _gate = new();
    private BrokerConnection?[] _members = [];
    private int _count;
    private ITimer? _timer;

    public HeartbeatScheduler(TimeProvider time, TimeSpan interval)
    {
        _time = time;
        _intervalStamps = (long)(interval.TotalSeconds * time.TimestampFrequency);
        Tick = TimeSpan.FromTicks(Math.Max(1, Math.Min(interval.Ticks / TicksPerInterval, MaxTick.Ticks)));
    }

    /// <summary>The time between two checks of the due heartbeats.</summary>
    public TimeSpan Tick { get; }

    /// <summary>Connections with heartbeats scheduled.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>Schedules <paramref name="connection"/>'s heartbeats, the first one an interval from now.</summary>
    public void Add(BrokerConnection connection)
    {
        lock (_gate)
        {
            connection.HeartbeatDue = _time.GetTimestamp() + _intervalStamps;
            if (_count == _members.Length)
            {
                // Doubles (16 slots first): amortized, and at most twice the open connections.
                Array.Resize(ref _members, Math.Max(16, _members.Length * 2));
            }

            connection.HeartbeatSlot = _count;
            _members[_count++] = connection;
            _timer ??= _time.CreateTimer(static s => ((HeartbeatScheduler)s!).OnTick(), this, Tick, Tick);
        }
    }

    /// <summary>Stops <paramref name="connection"/>'s heartbeats (once; later calls do nothing).</summary>
    public void Remove(BrokerConnection connection)
    {
        ITimer? stopped = null;
        lock (_gate)
        {
            var slot = connection.HeartbeatSlot;
            if (slot < 0 || slot >= _count || !ReferenceEquals(_members[slot], connection))
            {
                return;
            }

            // The last member takes the freed slot: removal in constant time.
            var last = _members[--_count]!;
            _members[slot] = last;
            last.HeartbeatSlot = slot;
            _members[_count] = null;
            connection.HeartbeatSlot = -1;
            if (_count == 0)
            {
                stopped = _timer;
                _timer = null;
                _members = [];
            }
        }

        stopped?.Dispose();
    }

    private void OnTick()
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            for (var i = 0; i < _count; i++)
            {
                var connection = _members[i]!;
                if (now < connection.HeartbeatDue)
                {
                    continue;
                }

                // The next one an interval after this one was due; after a stall (a paused
                // process), an interval from now.
                var next = connection.HeartbeatDue + _intervalStamps;
                connection.HeartbeatDue = next > now ? next : now + _intervalStamps;
                connection.OnHeartbeatDue();
            }
        }
    }
}
