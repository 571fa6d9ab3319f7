using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Logging;
using Marie.Events.Gateway.Telemetry;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary><c>marieai.events.EventPublisherService</c> (our addition): hands events to the Toast registry, which
/// feeds the broker (through the gRPC toast handler) and the other handlers. A call is answered once the broker
/// filed the event (topic and sequence number). The auth interceptor has already required role publisher or
/// admin.</summary>
internal sealed class EventPublisherService(
    ToastRegistry registry,
    GatewayMetrics metrics,
    ILogger<EventPublisherService> logger) : Proto.EventPublisherService.EventPublisherServiceBase
{
    /// <summary>Events of one <c>PublishStream</c> accepted and still waiting for their broker result: past this many
    /// the stream reads no further request until the oldest is answered (bounds a stream's memory when the broker
    /// is slow; the handler queue is the real flow control).</summary>
    private const int MaxUnansweredPerStream = 1024;

    public override async Task<PublishResponse> Publish(PublishRequest request, ServerCallContext context)
    {
        var started = metrics.PublishStarted();
        var span = PublishTracing.Start(request.Event);
        try
        {
            var dispatch = await AcceptAsync(request, index: null, context.CancellationToken).ConfigureAwait(false);
            var response = await AnswerAsync(dispatch, context, index: null, context.CancellationToken)
                .ConfigureAwait(false);
            PublishTracing.Filed(span, response.SequenceNum);
            metrics.PublishAnswered(started);
            return response;
        }
        catch (Exception ex) when (span is not null)
        {
            PublishTracing.Failed(span, ex);
            throw;
        }
    }

    /// <summary>Accepts requests in order and answers them in order. Flow control: reading the next request waits
    /// while the handler queue is full (drop_if_full false), so a faster producer is slowed by HTTP/2 flow control,
    /// not dropped. The first request that fails ends the call with its status, naming its index; the ones before
    /// it were published and answered.</summary>
    public override async Task PublishStream(
        IAsyncStreamReader<PublishRequest> requestStream,
        IServerStreamWriter<PublishResponse> responseStream,
        ServerCallContext context)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var accepted = Channel.CreateBounded<(ToastDispatch Dispatch, int Index, Activity? Span, long Started)>(
            new BoundedChannelOptions(MaxUnansweredPerStream) { SingleReader = true, SingleWriter = true });
        var answering = AnswerLoopAsync(accepted.Reader, responseStream, context, stop);

        Exception? readError = null;
        try
        {
            var index = 0;
            while (await requestStream.MoveNext(stop.Token).ConfigureAwait(false))
            {
                var request = requestStream.Current;
                var started = metrics.PublishStarted();
                var span = PublishTracing.Start(request.Event);
                ToastDispatch dispatch;
                try
                {
                    dispatch = await AcceptAsync(request, index, stop.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (span is not null)
                {
                    PublishTracing.Failed(span, ex);
                    throw;
                }

                await accepted.Writer.WriteAsync((dispatch, index, span, started), stop.Token).ConfigureAwait(false);
                index++;
            }
        }
        catch (Exception ex)
        {
            readError = ex;
        }

        accepted.Writer.TryComplete();
        // The answers of everything accepted before an error go out first; a failed answer wins over the reader's
        // (then cancelled) wait.
        try
        {
            await answering.ConfigureAwait(false);
        }
        finally
        {
            EndUnansweredSpans(accepted.Reader);
        }

        if (readError is not null)
        {
            ExceptionDispatchInfo.Throw(readError);
        }
    }

    /// <summary>Ends the publish spans of events the call accepted and never answered (it broke first).</summary>
    private static void EndUnansweredSpans(
        ChannelReader<(ToastDispatch Dispatch, int Index, Activity? Span, long Started)> left)
    {
        while (left.TryRead(out var item))
        {
            PublishTracing.Failed(item.Span, "the call ended before the event was answered");
        }
    }

    private async Task AnswerLoopAsync(
        ChannelReader<(ToastDispatch Dispatch, int Index, Activity? Span, long Started)> accepted,
        IServerStreamWriter<PublishResponse> responseStream,
        ServerCallContext context,
        CancellationTokenSource stop)
    {
        try
        {
            await foreach (var (dispatch, index, span, started) in accepted.ReadAllAsync(stop.Token)
                .ConfigureAwait(false))
            {
                PublishResponse response;
                try
                {
                    response = await AnswerAsync(dispatch, context, index, stop.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (span is not null)
                {
                    PublishTracing.Failed(span, ex);
                    throw;
                }

                PublishTracing.Filed(span, response.SequenceNum);
                await responseStream.WriteAsync(response, stop.Token).ConfigureAwait(false);
                metrics.PublishAnswered(started);
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Hands the request's event, validated and normalised by <see cref="PublishAdmission"/> (through the
    /// publish guard), to the registry; a refusal becomes the call's status.</summary>
    private async ValueTask<ToastDispatch> AcceptAsync(
        PublishRequest request,
        int? index,
        CancellationToken cancellationToken)
    {
        try
        {
            return await registry.DispatchAsync(request.Event, cancellationToken).ConfigureAwait(false);
        }
        catch (ToastRejectedException ex)
        {
            throw Reject(ex, index);
        }
    }

    /// <summary>Waits for the broker's result (none when no handler files with the broker: sequence 0).</summary>
    private async ValueTask<PublishResponse> AnswerAsync(
        ToastDispatch dispatch,
        ServerCallContext context,
        int? index,
        CancellationToken cancellationToken)
    {
        PublishResult result;
        if (dispatch.Filed is null)
        {
            result = new PublishResult(dispatch.Id, dispatch.Topic, 0);
        }
        else
        {
            try
            {
                result = await dispatch.Filed.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ToastRejectedException ex)
            {
                throw Reject(ex, index);
            }
        }

        GatewayLog.Published(
            logger,
            result.Id,
            result.SequenceNum,
            ApiKeyInterceptor.GetIdentity(context)?.Name ?? "?");
        return new PublishResponse { Id = result.Id, Topic = result.Topic, SequenceNum = result.SequenceNum };
    }

    private RpcException Reject(ToastRejectedException ex, int? index)
    {
        var rpc = GrpcStatusMapper.ToRpcException(ex, index);
        GatewayLog.PublishRejected(logger, rpc.Status.Detail);
        return rpc;
    }
}
