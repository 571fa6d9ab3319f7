using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Client.Tests.Infrastructure;

/// <summary>A <see cref="FakeTimeProvider"/> that reports every timer created (Task.Delay included) with its due
/// time, so a test can wait until the client has armed a timer before it advances the clock.</summary>
internal sealed class TestTimeProvider : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _created = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        // Registered first, reported after: a test that advances the clock once it sees the timer must find it
        // armed, or the timer would count its due time from the advanced clock and never fire.
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _created.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>Waits for a timer created with exactly <paramref name="dueTime"/> (skipping others).</summary>
    public async Task WaitForTimerAsync(TimeSpan dueTime)
    {
        using var cts = new CancellationTokenSource(Wait.Timeout);
        var seen = new List<TimeSpan>();
        try
        {
            while (true)
            {
                var due = await _created.Reader.ReadAsync(cts.Token);
                if (due == dueTime)
                {
                    return;
                }

                seen.Add(due);
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No timer due in {dueTime} was created (saw {string.Join(", ", seen)})");
        }
    }

    /// <summary>Advances the clock in small steps (each timer tick sees its own time).</summary>
    public void AdvanceInSteps(TimeSpan total, TimeSpan? step = null)
    {
        var size = step ?? TimeSpan.FromMilliseconds(10);
        var left = total;
        while (left > TimeSpan.Zero)
        {
            var next = left < size ? left : size;
            Advance(next);
            left -= next;
        }
    }
}
