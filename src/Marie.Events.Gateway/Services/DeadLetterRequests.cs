using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.DeadLetters;
using Marie.Events.Gateway.Auth;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// The one translation between the dead-letter messages (<c>dead_letters.proto</c>) and the broker's dead-letter
/// calls, used by <see cref="DeadLetterGrpcService"/> and the admin HTTP API alike: whose dead letters a call means,
/// the filter, and the answers.
/// </summary>
internal static class DeadLetterRequests
{
    /// <summary>The page size of a list that gives none.</summary>
    public const int DefaultPageSize = 50;

    /// <summary>The key a call acts on: the caller's own, or (admin keys only) the one it names.</summary>
    /// <exception cref="RpcException">PERMISSION_DENIED: a non-admin key named another key.</exception>
    public static string KeyFor(ApiKeyIdentity caller, string requested) =>
        KeyScope.For(caller, requested, "dead letters");

    /// <summary>The broker query of a filter.</summary>
    /// <exception cref="ArgumentException">An unknown reason code.</exception>
    public static DeadLetterQuery ToQuery(Proto.DeadLetterFilter? filter)
    {
        if (filter is null)
        {
            return DeadLetterQuery.All;
        }

        DeadLetterReason? reason = null;
        if (!string.IsNullOrEmpty(filter.ReasonCode))
        {
            reason = DeadLetterReasons.TryParse(filter.ReasonCode, out var parsed)
                ? parsed
                : throw new ArgumentException(
                    $"reason_code must be {DeadLetterReasons.MaxAttempts} or {DeadLetterReasons.Terminated} "
                    + $"(got '{filter.ReasonCode}')");
        }

        return new DeadLetterQuery(
            filter.Topic,
            filter.Subscription,
            reason,
            filter.Ids.Count == 0 ? null : filter.Ids.ToHashSet(StringComparer.Ordinal));
    }

    public static async Task<Proto.ListDeadLettersResponse> ListAsync(GrpcEventBroker broker, string key,
        Proto.ListDeadLettersRequest request, CancellationToken cancellationToken)
    {
        var size = request.PageSize == 0 ? DefaultPageSize : request.PageSize;
        var page = await broker.ListDeadLettersAsync(key, ToQuery(request.Filter),
            string.IsNullOrEmpty(request.PageToken) ? null : request.PageToken, size, cancellationToken)
            .ConfigureAwait(false);
        var response = new Proto.ListDeadLettersResponse
        {
            NextPageToken = page.NextPageToken ?? "",
            Total = page.Total,
        };
        response.DeadLetters.AddRange(page.Items.Select(l => l.ToProto()));
        return response;
    }

    /// <exception cref="RpcException">NOT_FOUND: the key has no dead letter with that id.</exception>
    public static async Task<Proto.DeadLetter> GetAsync(GrpcEventBroker broker, string key, string id,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(id))
        {
            throw new ArgumentException("id is required");
        }

        return await broker.GetDeadLetterAsync(key, id, cancellationToken).ConfigureAwait(false) is { } letter
            ? letter.ToProto()
            : throw GrpcStatusMapper.Refuse(StatusCode.NotFound, $"no dead letter '{id}'");
    }

    public static async Task<Proto.ReplayDeadLettersResponse> ReplayAsync(GrpcEventBroker broker, string key,
        Proto.ReplayDeadLettersRequest request, CancellationToken cancellationToken)
    {
        var result = await broker.ReplayDeadLettersAsync(key, ToQuery(request.Filter), request.DryRun,
            request.MaxEvents, cancellationToken).ConfigureAwait(false);
        var response = new Proto.ReplayDeadLettersResponse
        {
            Matched = result.Matched,
            Selected = result.Selected,
            Replayed = result.Replayed,
            DryRun = result.DryRun,
        };
        response.Failures.AddRange(result.Failures.Select(f =>
            new Proto.ReplayFailure { Id = f.Id, Code = f.Code, Message = f.Message }));
        return response;
    }

    public static async Task<Proto.PurgeDeadLettersResponse> PurgeAsync(GrpcEventBroker broker, string key,
        Proto.PurgeDeadLettersRequest request, CancellationToken cancellationToken) => new()
    {
        Purged = await broker.PurgeDeadLettersAsync(key, ToQuery(request.Filter), request.DryRun, cancellationToken)
            .ConfigureAwait(false),
        DryRun = request.DryRun,
    };
}
