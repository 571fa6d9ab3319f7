using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.Limits;
using Marie.Events.Gateway.Auth;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// <c>marieai.events.DeadLetterService</c>: the caller's key's dead letters (role subscriber or admin, checked by
/// <see cref="ApiKeyInterceptor"/>); an admin key may name another key. The work is
/// <see cref="DeadLetterRequests"/>', shared with the admin HTTP API; errors map through
/// <see cref="GrpcStatusMapper"/>.
/// </summary>
internal sealed class DeadLetterGrpcService(GrpcEventBroker broker) : Proto.DeadLetterService.DeadLetterServiceBase
{
    public override Task<Proto.ListDeadLettersResponse> ListDeadLetters(Proto.ListDeadLettersRequest request,
        ServerCallContext context) =>
        Task.FromResult(Run(() => DeadLetterRequests.List(broker, KeyOf(context, request.Key), request)));

    public override Task<Proto.DeadLetter> GetDeadLetter(Proto.GetDeadLetterRequest request,
        ServerCallContext context) =>
        Task.FromResult(Run(() => DeadLetterRequests.Get(broker, KeyOf(context, request.Key), request.Id)));

    public override async Task<Proto.ReplayDeadLettersResponse> ReplayDeadLetters(
        Proto.ReplayDeadLettersRequest request, ServerCallContext context)
    {
        try
        {
            return await DeadLetterRequests.ReplayAsync(broker, KeyOf(context, request.Key), request,
                context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ArgumentException or BrokerLimitException)
        {
            throw GrpcStatusMapper.ToRpcException(ex);
        }
    }

    public override Task<Proto.PurgeDeadLettersResponse> PurgeDeadLetters(Proto.PurgeDeadLettersRequest request,
        ServerCallContext context) =>
        Task.FromResult(Run(() => DeadLetterRequests.Purge(broker, KeyOf(context, request.Key), request)));

    private static T Run<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (Exception ex) when (ex is ArgumentException or BrokerLimitException)
        {
            throw GrpcStatusMapper.ToRpcException(ex);
        }
    }

    private static string KeyOf(ServerCallContext context, string requested) =>
        DeadLetterRequests.KeyFor(KeyScope.Caller(context), requested);
}
