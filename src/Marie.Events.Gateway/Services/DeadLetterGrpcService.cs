using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Storage;
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
        RunAsync(() => DeadLetterRequests.ListAsync(broker, KeyOf(context, request.Key), request,
            context.CancellationToken));

    public override Task<Proto.DeadLetter> GetDeadLetter(Proto.GetDeadLetterRequest request,
        ServerCallContext context) =>
        RunAsync(() => DeadLetterRequests.GetAsync(broker, KeyOf(context, request.Key), request.Id,
            context.CancellationToken));

    public override Task<Proto.ReplayDeadLettersResponse> ReplayDeadLetters(
        Proto.ReplayDeadLettersRequest request, ServerCallContext context) =>
        RunAsync(() => DeadLetterRequests.ReplayAsync(broker, KeyOf(context, request.Key), request,
            context.CancellationToken));

    public override Task<Proto.PurgeDeadLettersResponse> PurgeDeadLetters(Proto.PurgeDeadLettersRequest request,
        ServerCallContext context) =>
        RunAsync(() => DeadLetterRequests.PurgeAsync(broker, KeyOf(context, request.Key), request,
            context.CancellationToken));

    private static async Task<T> RunAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ArgumentException or BrokerLimitException or BackendException)
        {
            throw GrpcStatusMapper.ToRpcException(ex);
        }
    }

    private static string KeyOf(ServerCallContext context, string requested) =>
        DeadLetterRequests.KeyFor(KeyScope.Caller(context), requested);
}
