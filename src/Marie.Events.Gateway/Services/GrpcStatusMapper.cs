using System.Globalization;
using Grpc.Core;
using Marie.Events.Broker.Access;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Storage;
using Marie.Events.Gateway.Toast;

namespace Marie.Events.Gateway.Services;

/// <summary>The one mapping from the broker's and the pipeline's exceptions to gRPC statuses.</summary>
internal static class GrpcStatusMapper
{
    /// <summary>The status <paramref name="ex"/> ends a call with; in a stream the message names the request's
    /// <paramref name="index"/>.</summary>
    public static RpcException ToRpcException(Exception ex, int? index = null) => ex switch
    {
        RpcException rpc => rpc,
        ToastRejectedException rejected => Refuse(StatusOf(rejected.Reason), rejected.Message, index),
        BrokerLimitException => Refuse(StatusCode.ResourceExhausted, ex.Message, index),
        TopicAccessDeniedException => Refuse(StatusCode.PermissionDenied, ex.Message, index),
        BackendException => Refuse(StatusCode.Unavailable, ex.Message, index),
        ArgumentException => Refuse(StatusCode.InvalidArgument, ex.Message, index),
        _ => Refuse(StatusCode.Internal, "internal error", index),
    };

    /// <summary>A refusal with <paramref name="code"/>; in a stream the message names the request's index.</summary>
    public static RpcException Refuse(StatusCode code, string message, int? index = null) =>
        new(new Status(
            code,
            index is { } i ? string.Create(CultureInfo.InvariantCulture, $"request {i}: {message}") : message));

    private static StatusCode StatusOf(ToastRejection reason) => reason switch
    {
        ToastRejection.QueueFull or ToastRejection.Dropped or ToastRejection.LimitExceeded =>
            StatusCode.ResourceExhausted,
        ToastRejection.Denied => StatusCode.PermissionDenied,
        ToastRejection.Invalid => StatusCode.InvalidArgument,
        _ => StatusCode.Unavailable,
    };
}
