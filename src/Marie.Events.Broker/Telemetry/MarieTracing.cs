using System.Diagnostics;

namespace Marie.Events.Broker.Telemetry;

/// <summary>
/// The gateway's one <see cref="ActivitySource"/>, named <see cref="MarieTelemetry.Name"/>: the publish span
/// (<c>send &lt;topic&gt;</c>, started by the gateway host), one delivery span per attempt (<c>deliver
/// &lt;topic&gt;</c>) and a settle span per ack, nack or terminate (<c>settle &lt;topic&gt;</c>), following
/// OpenTelemetry's messaging conventions (docs/tracing.md). With no listener on the source nothing is created.
/// </summary>
public static class MarieTracing
{
    /// <summary>The source every Marie span comes from.</summary>
    public static ActivitySource Source { get; } = new(MarieTelemetry.Name);

    /// <summary><c>messaging.system</c>'s value.</summary>
    public const string MessagingSystem = "marie";

    /// <summary>Messaging attribute names of the OpenTelemetry conventions, and Marie's own (<c>messaging.marie.*</c>,
    /// the conventions' place for a system's attributes).</summary>
    public static class Attributes
    {
        /// <summary><c>messaging.system</c>.</summary>
        public const string System = "messaging.system";

        /// <summary><c>messaging.operation.type</c>: send, process, settle.</summary>
        public const string OperationType = "messaging.operation.type";

        /// <summary><c>messaging.operation.name</c>: send, deliver, ack, nack, terminate, process.</summary>
        public const string OperationName = "messaging.operation.name";

        /// <summary><c>messaging.destination.name</c>: the topic.</summary>
        public const string DestinationName = "messaging.destination.name";

        /// <summary><c>messaging.destination.subscription.name</c>: the subscription id.</summary>
        public const string SubscriptionName = "messaging.destination.subscription.name";

        /// <summary><c>messaging.message.id</c>: the event's id.</summary>
        public const string MessageId = "messaging.message.id";

        /// <summary><c>messaging.marie.sequence_num</c>: the event's number within its topic.</summary>
        public const string SequenceNum = "messaging.marie.sequence_num";

        /// <summary><c>messaging.marie.delivery.attempt</c>: 1 for the first delivery.</summary>
        public const string DeliveryAttempt = "messaging.marie.delivery.attempt";

        /// <summary><c>messaging.marie.delivery.reason</c>: live, replay, redelivery or dead_letter_replay.</summary>
        public const string DeliveryReason = "messaging.marie.delivery.reason";
    }
}
