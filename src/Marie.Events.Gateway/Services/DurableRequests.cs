using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.Durables;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// The translation between <c>durables.proto</c> and the broker's durable calls
/// (<see cref="GrpcEventBroker.ListDurables"/>, <see cref="GrpcEventBroker.DeleteDurableAsync"/>, the same ones the
/// admin HTTP API's <c>/internal/durables</c> uses): the answers, and the delete's outcome as a status.
/// </summary>
internal static class DurableRequests
{
    /// <summary>The durables of <paramref name="key"/>, by name.</summary>
    public static Proto.ListDurablesResponse List(GrpcEventBroker broker, string key)
    {
        var response = new Proto.ListDurablesResponse();
        response.Durables.AddRange(broker.ListDurables(key).Select(ToProto));
        return response;
    }

    /// <summary>Deletes <paramref name="key"/>'s durable <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No name.</exception>
    /// <exception cref="RpcException">NOT_FOUND: the key has no durable of that name; FAILED_PRECONDITION: a stream
    /// holds it.</exception>
    public static async Task<Proto.DeleteDurableResponse> DeleteAsync(GrpcEventBroker broker, string key,
        string name, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException("name is required");
        }

        var outcome = await broker.DeleteDurableAsync(key, name, cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            DurableDeleteOutcome.Deleted => new Proto.DeleteDurableResponse { Key = key, Name = name },
            DurableDeleteOutcome.InUse => throw GrpcStatusMapper.Refuse(StatusCode.FailedPrecondition,
                $"durable subscription '{name}' of key '{key}' is held by a stream: end it (or unsubscribe) first"),
            _ => throw GrpcStatusMapper.Refuse(StatusCode.NotFound,
                $"key '{key}' has no durable subscription '{name}'"),
        };
    }

    public static Proto.DurableSubscriptionState ToProto(DurableInfo info)
    {
        var proto = new Proto.DurableSubscriptionState
        {
            Key = info.Key,
            Name = info.Name,
            Group = info.Group,
            Members = info.Members,
            Pending = info.Topics.Sum(t => t.Pending.Count),
        };
        if (info.ExpiresAt is { } expires)
        {
            proto.InactiveSince = Timestamp.FromDateTimeOffset(info.LastActiveAt);
            proto.ExpiresAt = Timestamp.FromDateTimeOffset(expires);
        }

        proto.Topics.AddRange(info.Topics.Select(t => new Proto.DurableTopicPosition
        {
            Topic = t.Topic,
            Epoch = t.Epoch,
            Acked = t.Acked,
            Delivered = t.Delivered,
            Pending = t.Pending.Count,
        }));
        return proto;
    }
}
