using System.Text;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Broker.Topics;

namespace Marie.Events.Benchmarks;

/// <summary>Fills a frame with a delivery the way the broker does (its internal API).</summary>
internal static class FrameSetup
{
    public static void Set(OutboundFrame frame, StoredEvent stored, string ackPrefix, string subscriptionId) =>
        frame.Set(stored, Encoding.UTF8.GetBytes(ackPrefix), Encoding.UTF8.GetBytes(subscriptionId), 1);
}
