using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>The connection's durable subscriptions: a subscribe request with <c>durable_name</c> (and
/// <c>group</c>) joins the key's durable of that name instead of starting afresh.</summary>
public sealed partial class BrokerConnection
{
    /// <summary>The error of a request whose durable fields are wrong, or null.</summary>
    private (ErrorCode Code, string Field, string Message)? DurableProblem(SubscribeRequest request)
    {
        if (request.Group.Length > 0 && request.DurableName.Length == 0)
        {
            return (ErrorCode.ErrorGroupWithoutDurable, "group",
                "group needs durable_name: a consumer group shares one durable subscription");
        }

        var max = Broker.Settings.Limits.MaxStringLength;
        if (request.DurableName.Length > max || request.Group.Length > max)
        {
            var field = request.DurableName.Length > max ? "durable_name" : "group";
            return (ErrorCode.ErrorInvalidRequest, field, $"{field} may be at most {max} characters");
        }

        return null;
    }

    /// <summary>The subscription of a request: a plain one, or a member of its durable. Null (and the error queued)
    /// when the durable may not be joined. Caller holds the connection's lock.</summary>
    private Subscription? NewSubscription(SubscribeRequest request, int number, EventFilter filter, bool wildcard,
        string[] requested, RedeliveryPolicy policy)
    {
        var id = request.SubscriptionId;
        if (request.DurableName.Length == 0)
        {
            return new Subscription(this, number, id, filter, wildcard, requested, policy);
        }

        Subscription? made = null;
        var (durable, conflict) = Broker.Durables.Join(Owner, request.DurableName, request.Group, d =>
            made = new Subscription(this, number, id, filter, wildcard, requested, policy) { Durable = d });
        if (durable is not null)
        {
            return made;
        }

        EnqueueError(id, ErrorCode.ErrorDurableConflict, conflict!, ("field", "durable_name"),
            ("durable_name", request.DurableName), ("group", request.Group));
        return null;
    }
}
