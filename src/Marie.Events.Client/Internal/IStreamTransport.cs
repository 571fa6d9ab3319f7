using Marie.Events.Protocol;

namespace Marie.Events.Client.Internal;

/// <summary>Opens event streams (the gRPC <c>StreamEvents</c> call; unit tests substitute an in-memory one).</summary>
internal interface IStreamTransport
{
    /// <summary>Starts a stream to <paramref name="address"/>. Connection failures surface from the first read or
    /// write, as <see cref="Grpc.Core.RpcException"/>s.</summary>
    IStreamConnection Open(Uri address, CancellationToken cancellationToken);
}

/// <summary>One open stream. One writer and one reader at a time.</summary>
internal interface IStreamConnection : IDisposable
{
    /// <summary>The last message read.</summary>
    ServerMessage Current { get; }

    /// <summary>Writes a client message.</summary>
    Task WriteAsync(ClientMessage message, CancellationToken cancellationToken);

    /// <summary>Reads the next server message; false when the gateway ended the stream without an error
    /// status.</summary>
    Task<bool> MoveNextAsync(CancellationToken cancellationToken);
}
