using System.Globalization;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Logging;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary><c>marieai.events.EventPublisherService</c> (our addition): files events with the broker. The auth
/// interceptor has already required role publisher or admin.</summary>
internal sealed class EventPublisherService(
    GrpcEventBroker broker,
    ILogger<EventPublisherService> logger) : Proto.EventPublisherService.EventPublisherServiceBase
{
    public override Task<PublishResponse> Publish(PublishRequest request, ServerCallContext context) =>
        Task.FromResult(PublishOne(request, context, index: null));

    public override async Task PublishStream(
        IAsyncStreamReader<PublishRequest> requestStream,
        IServerStreamWriter<PublishResponse> responseStream,
        ServerCallContext context)
    {
        var token = context.CancellationToken;
        var index = 0;
        while (await requestStream.MoveNext(token).ConfigureAwait(false))
        {
            var response = PublishOne(requestStream.Current, context, index++);
            await responseStream.WriteAsync(response, token).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes one request; a bad one ends the call with InvalidArgument (in a stream, naming its index:
    /// the requests before it were published and answered).</summary>
    private PublishResponse PublishOne(PublishRequest request, ServerCallContext context, int? index)
    {
        var problem = request.Event switch
        {
            null => "event is required",
            { ApiKey.Length: 0 } => "event.api_key (the topic) is required",
            _ => null,
        };

        PublishResult result = default;
        if (problem is null)
        {
            try
            {
                result = broker.Publish(request.Event!);
            }
            catch (ArgumentException ex)
            {
                problem = ex.Message;
            }
        }

        if (problem is not null)
        {
            var message = index is { } i ? string.Create(CultureInfo.InvariantCulture, $"request {i}: {problem}") : problem;
            GatewayLog.PublishRejected(logger, message);
            throw new RpcException(new Status(StatusCode.InvalidArgument, message));
        }

        GatewayLog.Published(logger, result.Id, result.SequenceNum, ApiKeyInterceptor.GetIdentity(context)?.Name ?? "?");
        return new PublishResponse { Id = result.Id, Topic = result.Topic, SequenceNum = result.SequenceNum };
    }
}
