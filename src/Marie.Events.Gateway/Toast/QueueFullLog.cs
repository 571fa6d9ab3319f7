using Marie.Events.Gateway.Logging;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// One handler's <c>Queue full for toast handler &lt;name&gt;, event dropped</c> line (5010), at most
/// <see cref="PerSecond"/> a second: a burst that overflows a queue drops thousands of events a second, and a line
/// for each would cost more than the events. The drops not written are counted in one line (5018) before the next
/// one written; every drop is counted in the stats (<c>events_dropped</c>) either way.
/// </summary>
internal sealed class QueueFullLog(ILogger logger, string handler, TimeProvider time)
{
    /// <summary>Lines a second: enough to see which events and topics overflow, few enough to cost nothing.</summary>
    public const int PerSecond = 10;

    private readonly LogThrottle _throttle = new(time, PerSecond);

    public void Dropped(EventData evt)
    {
        if (!_throttle.TryEnter(out var suppressed))
        {
            return;
        }

        if (suppressed > 0)
        {
            ToastLog.QueueFullSuppressed(logger, handler, suppressed, PerSecond);
        }

        ToastLog.QueueFullDropped(logger, handler, evt.Id, evt.ApiKey);
    }
}
