using Google.Protobuf;
using Grpc.Core;
using Marie.Events.Broker;
using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;
using Proto = Marie.Events.Protocol;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// Binds <see cref="EventStreamService"/> to <c>marieai.events.EventStreamService</c> with the same method paths and
/// request types as the generated stubs, but with <see cref="OutboundFrame"/> as the response type of
/// <c>StreamEvents</c>: an event's wire bytes are serialized once and copied into every subscriber's envelope
/// instead of re-serializing the event per delivery. The bytes on the wire are those of <c>ServerMessage</c>.
/// </summary>
internal static class EventStreamBinding
{
    private const string ServiceName = "marieai.events.EventStreamService";

    private static readonly Method<ClientMessage, OutboundFrame> StreamEventsMethod = new(
        MethodType.DuplexStreaming,
        ServiceName,
        "StreamEvents",
        Marshallers.Create(static m => m.ToByteArray(), ClientMessage.Parser.ParseFrom),
        OutboundFrame.Marshaller);

    private static readonly Method<ReplayRequest, ReplayResponse> GetReplayBufferMethod = new(
        MethodType.Unary,
        ServiceName,
        "GetReplayBuffer",
        Marshallers.Create(static m => m.ToByteArray(), ReplayRequest.Parser.ParseFrom),
        Marshallers.Create(static m => m.ToByteArray(), ReplayResponse.Parser.ParseFrom));

    /// <summary>The service's descriptor: server reflection finds it here through the bind attribute.</summary>
    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => Proto.EventStreamService.Descriptor;

    /// <summary>Called by grpc-dotnet (through <see cref="BindServiceMethodAttribute"/>) with a null service: the
    /// handlers are resolved by name as overrides of <see cref="EventStreamServiceBase"/> and activated per
    /// call.</summary>
    public static void BindService(ServiceBinderBase binder, EventStreamServiceBase? service)
    {
        binder.AddMethod(StreamEventsMethod, service is null ? null : service.StreamEvents);
        binder.AddMethod(GetReplayBufferMethod, service is null ? null : service.GetReplayBuffer);
    }
}

/// <summary>The service's methods with the frame-writing response type; grpc-dotnet binds the overrides of
/// these.</summary>
[BindServiceMethod(typeof(EventStreamBinding), nameof(EventStreamBinding.BindService))]
internal abstract class EventStreamServiceBase
{
    public abstract Task StreamEvents(
        IAsyncStreamReader<ClientMessage> requestStream,
        IServerStreamWriter<OutboundFrame> responseStream,
        ServerCallContext context);

    public abstract Task<ReplayResponse> GetReplayBuffer(ReplayRequest request, ServerCallContext context);
}
