using System.Net;
using Grpc.Core;
using Marie.Events.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Marie.Events.LoadTest.Raw;

/// <summary>
/// The raw gRPC baseline (<c>--serve-raw</c>): a minimal grpc-dotnet server on the same contract that fans published
/// events out to the streams subscribed to their topic (and job id, when a subscription filters on one) with no broker
/// logic: no ring, no acks, no in-flight state, no redelivery. Each event is serialized once; every delivery writes
/// the same <c>ServerMessage</c> envelope bytes our gateway writes, batched with <c>WriteFlags.BufferHint</c> while
/// more are queued. The ceiling for our gateway on this transport.
/// </summary>
internal static class RawServer
{
    public static async Task<int> RunAsync(int port, TimeSpan heartbeat)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        // The same Kestrel set-up as the gateway: h2c only, default HTTP/2 limits.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(
            IPAddress.Loopback,
            port,
            listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_ => new RawHub(heartbeat));
        var app = builder.Build();
        app.MapGrpcService<RawStreamService>();
        app.MapGrpcService<RawPublisherService>();
        await app.RunAsync();
        return 0;
    }
}

/// <summary>PublishStream and Publish: number the event in its topic and hand it to the hub.</summary>
internal sealed class RawPublisherService(RawHub hub) : EventPublisherService.EventPublisherServiceBase
{
    public override Task<PublishResponse> Publish(PublishRequest request, ServerCallContext context) =>
        Task.FromResult(hub.Publish(request.Event));

    public override async Task PublishStream(
        IAsyncStreamReader<PublishRequest> requestStream,
        IServerStreamWriter<PublishResponse> responseStream,
        ServerCallContext context)
    {
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            await responseStream.WriteAsync(hub.Publish(requestStream.Current.Event), context.CancellationToken);
        }
    }
}

/// <summary>StreamEvents: subscribe requests register the stream with the hub; everything else is ignored.</summary>
internal sealed class RawStreamService(RawHub hub) : RawStreamServiceBase
{
    private static readonly WriteOptions Buffered = new(WriteFlags.BufferHint);
    private static readonly WriteOptions Flushed = new();

    public override async Task StreamEvents(
        IAsyncStreamReader<ClientMessage> requestStream,
        IServerStreamWriter<RawFrame> responseStream,
        ServerCallContext context)
    {
        var stream = new RawStream();
        hub.Add(stream);
        var token = context.CancellationToken;
        var writer = WriteLoopAsync(stream, responseStream, token);
        try
        {
            while (await requestStream.MoveNext(token))
            {
                var message = requestStream.Current;
                if (message.MessageCase == ClientMessage.MessageOneofCase.Subscribe)
                {
                    hub.Subscribe(stream, message.Subscribe);
                }
            }

            await writer;
        }
        catch (Exception ex) when (token.IsCancellationRequested
            && ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client went away.
        }
        finally
        {
            hub.Remove(stream);
            stream.Complete();
        }
    }

    private static async Task WriteLoopAsync(
        RawStream stream,
        IServerStreamWriter<RawFrame> responses,
        CancellationToken token)
    {
        var current = new RawFrame();
        var next = new RawFrame();
        while (await stream.Queue.Reader.WaitToReadAsync(token))
        {
            if (!stream.Queue.Reader.TryRead(out var item))
            {
                continue;
            }

            current.Set(item);
            while (true)
            {
                var more = stream.Queue.Reader.TryRead(out var following);
                if (more)
                {
                    next.Set(following);
                }

                responses.WriteOptions = more ? Buffered : Flushed;
                await responses.WriteAsync(current, token);
                if (!more)
                {
                    break;
                }

                (current, next) = (next, current);
            }
        }
    }
}

/// <summary>Binds <see cref="RawStreamService"/> with <see cref="RawFrame"/> as the response type (the bytes of
/// <c>ServerMessage</c>), like our gateway's binding.</summary>
internal static class RawStreamBinding
{
    private static readonly Method<ClientMessage, RawFrame> StreamEventsMethod = new(
        MethodType.DuplexStreaming,
        "marieai.events.EventStreamService",
        "StreamEvents",
        Marshallers.Create(
            static m => Google.Protobuf.MessageExtensions.ToByteArray(m),
            ClientMessage.Parser.ParseFrom),
        RawFrame.Marshaller);

    public static void BindService(ServiceBinderBase binder, RawStreamServiceBase? service) =>
        binder.AddMethod(StreamEventsMethod, service is null ? null : service.StreamEvents);
}

[BindServiceMethod(typeof(RawStreamBinding), nameof(RawStreamBinding.BindService))]
internal abstract class RawStreamServiceBase
{
    public abstract Task StreamEvents(
        IAsyncStreamReader<ClientMessage> requestStream,
        IServerStreamWriter<RawFrame> responseStream,
        ServerCallContext context);
}
