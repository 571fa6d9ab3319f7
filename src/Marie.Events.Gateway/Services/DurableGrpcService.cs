using Marie.Events.Broker;
using Marie.Events.Gateway.Auth;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// <c>marieai.events.DurableService</c>: the caller's key's durable subscriptions (role subscriber or admin, checked
/// by <see cref="ApiKeyInterceptor"/>); an admin key may name another key (<see cref="KeyScope"/>). The work is
/// <see cref="DurableRequests"/>'; errors map through <see cref="GrpcStatusMapper"/>.
/// </summary>
internal sealed class DurableGrpcService(GrpcEventBroker broker) : Proto.DurableService.DurableServiceBase
{
    private const string What = "durable subscriptions";

    public override Task<Proto.ListDurablesResponse> ListDurables(Proto.ListDurablesRequest request,
        Grpc.Core.ServerCallContext context) =>
        Task.FromResult(DurableRequests.List(broker, KeyScope.For(KeyScope.Caller(context), request.Key, What)));

    public override async Task<Proto.DeleteDurableResponse> DeleteDurable(Proto.DeleteDurableRequest request,
        Grpc.Core.ServerCallContext context)
    {
        var key = KeyScope.For(KeyScope.Caller(context), request.Key, What);
        try
        {
            return await DurableRequests.DeleteAsync(broker, key, request.Name, context.CancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ArgumentException or Broker.Storage.BackendException)
        {
            throw GrpcStatusMapper.ToRpcException(ex);
        }
    }
}
