namespace Marie.Events.Gateway.Streams;

/// <summary>What an open stream needs of its key.</summary>
internal enum StreamKind
{
    /// <summary><c>StreamEvents</c>: role subscriber or admin.</summary>
    Events,

    /// <summary><c>PublishStream</c>: role publisher or admin.</summary>
    Publish,
}
