using Google.Protobuf;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Storage;
using Marie.Events.Gateway.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Hosting;

/// <summary>
/// The dead letters on the admin port (admin keys; <c>key</c> names whose, the admin's own by default). Answers are
/// the <c>dead_letters.proto</c> messages as protobuf JSON with their snake_case field names, built by
/// <see cref="DeadLetterRequests"/> like <c>DeadLetterService</c>'s:
/// <c>GET /internal/dead-letters?key=&amp;topic=&amp;subscription=&amp;reason_code=&amp;page_size=&amp;page_token=</c>,
/// <c>GET /internal/dead-letters/{id}?key=</c>, and <c>POST /internal/dead-letters/replay</c> and
/// <c>/purge</c> with a <c>ReplayDeadLettersRequest</c> or <c>PurgeDeadLettersRequest</c> JSON body.
/// </summary>
internal static class AdminDeadLettersEndpoint
{
    public const string ListPath = "/internal/dead-letters";
    public const string ShowPath = "/internal/dead-letters/{id}";
    public const string ReplayPath = "/internal/dead-letters/replay";
    public const string PurgePath = "/internal/dead-letters/purge";

    private static readonly JsonFormatter Formatter =
        new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true).WithFormatDefaultValues(true));

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default);

    public static void Map(WebApplication app)
    {
        app.MapGet(ListPath, (Delegate)List);
        app.MapGet(ShowPath, Show);
        app.MapPost(ReplayPath, (Delegate)Replay);
        app.MapPost(PurgePath, (Delegate)Purge);
    }

    private static Task<IResult> List(HttpContext http) => RunAsync(http, async (broker, key) =>
    {
        var query = http.Request.Query;
        var request = new Proto.ListDeadLettersRequest
        {
            Filter = new Proto.DeadLetterFilter
            {
                Topic = query["topic"].ToString(),
                Subscription = query["subscription"].ToString(),
                ReasonCode = query["reason_code"].ToString(),
            },
            PageToken = query["page_token"].ToString(),
        };
        if (query.TryGetValue("page_size", out var size))
        {
            request.PageSize = int.TryParse(size, out var n) ? n
                : throw new ArgumentException($"page_size must be an integer (got '{size}')");
        }

        return await DeadLetterRequests.ListAsync(broker, key, request, http.RequestAborted).ConfigureAwait(false);
    });

    private static Task<IResult> Show(HttpContext http, string id) => RunAsync(http, async (broker, key) =>
        await DeadLetterRequests.GetAsync(broker, key, id, http.RequestAborted).ConfigureAwait(false));

    private static Task<IResult> Replay(HttpContext http) => RunAsync(http, async (broker, key) =>
    {
        var request = await ReadAsync<Proto.ReplayDeadLettersRequest>(http).ConfigureAwait(false);
        return await DeadLetterRequests.ReplayAsync(broker, key, request, http.RequestAborted).ConfigureAwait(false);
    });

    private static Task<IResult> Purge(HttpContext http) => RunAsync(http, async (broker, key) =>
        await DeadLetterRequests.PurgeAsync(
            broker,
            key,
            await ReadAsync<Proto.PurgeDeadLettersRequest>(http).ConfigureAwait(false),
            http.RequestAborted).ConfigureAwait(false));

    /// <summary>Checks the admin key, runs the call for the key it names, maps failures to HTTP statuses.</summary>
    private static async Task<IResult> RunAsync(HttpContext http, Func<GrpcEventBroker, string, Task<IMessage>> call)
    {
        var (admin, refusal) = AdminAuth.Check(http, typeof(AdminDeadLettersEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        try
        {
            var key = DeadLetterRequests.KeyFor(admin!, http.Request.Query["key"].ToString());
            var answer = await call(http.RequestServices.GetRequiredService<GrpcEventBroker>(), key)
                .ConfigureAwait(false);
            return Results.Text(Formatter.Format(answer), "application/json");
        }
        catch (Exception ex) when (ex is ArgumentException or BrokerLimitException or RpcException
            or InvalidProtocolBufferException or BackendException)
        {
            var status = ex switch
            {
                RpcException { StatusCode: StatusCode.NotFound } => StatusCodes.Status404NotFound,
                RpcException { StatusCode: StatusCode.PermissionDenied } => StatusCodes.Status403Forbidden,
                BrokerLimitException => StatusCodes.Status422UnprocessableEntity,
                BackendException => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status400BadRequest,
            };
            var message = ex is RpcException rpc ? rpc.Status.Detail : ex.Message;
            return Results.Json(new AdminError(message), GatewayJsonContext.Default.AdminError, statusCode: status);
        }
    }

    private static async Task<T> ReadAsync<T>(HttpContext http) where T : IMessage<T>, new()
    {
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync(http.RequestAborted).ConfigureAwait(false);
        return string.IsNullOrWhiteSpace(body) ? new T() : Parser.Parse<T>(body);
    }
}
