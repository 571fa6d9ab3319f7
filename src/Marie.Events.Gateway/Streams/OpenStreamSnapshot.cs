namespace Marie.Events.Gateway.Streams;

/// <summary>One open stream as <see cref="StreamRegistry.Snapshot"/> saw it.</summary>
/// <param name="Id">The stream's id (for <c>StreamEvents</c>, also its broker connection's id).</param>
/// <param name="Kind">Event stream or publish stream.</param>
/// <param name="KeyName">The name of its API key as it is now.</param>
/// <param name="Peer">The client's address as gRPC reports it.</param>
/// <param name="OpenedAt">When it was opened.</param>
internal sealed record OpenStreamSnapshot(
    string Id,
    StreamKind Kind,
    string KeyName,
    string Peer,
    DateTimeOffset OpenedAt);
