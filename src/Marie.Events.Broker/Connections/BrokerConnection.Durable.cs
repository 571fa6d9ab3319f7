using Marie.Events.Broker.Subscriptions;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Connections;

/// <summary>The connection's durable subscriptions: a subscribe request with <c>durable_name</c> (and
/// <c>group</c>) joins the key's durable of that name instead of starting afresh.</summary>
public sealed partial class BrokerConnection
{
    /// <summary>A subscribe with <c>durable_name</c>: with a shared store (Redis) the durable's lease is taken first
    /// (another gateway holding it refuses the subscribe, the stream stays up) and its state read again, since
    /// another gateway may have moved it on.</summary>
    private async ValueTask SubscribeDurableAsync(SubscribeRequest request, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.SubscriptionId) || DurableProblem(request) is not null)
        {
            // Refused by Subscribe's own checks, without asking the store.
            Subscribe(request);
            return;
        }

        var entry = await Broker.Durables.EnterAsync(Owner, request.DurableName, cancellationToken)
            .ConfigureAwait(false);
        if (entry.Refusal is { } refusal)
        {
            (string, string)[] details = refusal.Holder.Length > 0
                ? [.. DurableDetails(request, refusal.Reason), ("holder", refusal.Holder)]
                : DurableDetails(request, refusal.Reason);
            EnqueueError(request.SubscriptionId, ErrorCode.ErrorDurableConflict, refusal.Message, details);
            return;
        }

        try
        {
            Subscribe(request);
        }
        finally
        {
            Broker.Durables.Entered(entry);
        }
    }

    /// <summary>Closes <paramref name="member"/>, a member of a durable whose lease this gateway lost (another
    /// gateway may hold it now): nothing of it is delivered here after this, and the client gets an
    /// <c>ERROR_DURABLE_CONFLICT</c> message with its <c>subscription_id</c> and <c>details.reason</c>
    /// <c>lease_lost</c>.</summary>
    internal void CloseLostDurableMember(Subscription member, string message)
    {
        if (!TryTakeOff(member))
        {
            return;
        }

        Broker.RemoveSubscription(member);
        var error = new ErrorMessage
        {
            SubscriptionId = member.Id,
            Code = ErrorCode.ErrorDurableConflict,
            Message = message,
        };
        error.Details["durable_name"] = member.Durable!.Name;
        error.Details["group"] = member.Durable.Group;
        error.Details["reason"] = Durables.DurableRefusal.LostReason;
        EnqueueNotice(new ServerMessage { Error = error });
    }

    private static (string, string)[] DurableDetails(SubscribeRequest request, string reason) =>
        [("field", "durable_name"), ("durable_name", request.DurableName), ("group", request.Group),
            ("reason", reason)];

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
