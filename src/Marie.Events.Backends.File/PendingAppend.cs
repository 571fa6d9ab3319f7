using Marie.Events.Broker.Storage;

namespace Marie.Events.Backends.File;

/// <summary>One append waiting for the writer.</summary>
internal sealed class PendingAppend(
    string topic,
    string epoch,
    long firstSequence,
    long generation,
    byte[] block,
    BackendEvent[] events,
    long publishedMs)
{
    public string Topic { get; } = topic;

    public string Epoch { get; } = epoch;

    public long FirstSequence { get; } = firstSequence;

    /// <summary>The topic's numbering generation when the numbers were given (a failed write starts a new
    /// one).</summary>
    public long Generation { get; } = generation;

    /// <summary>The events as stored (<see cref="EventBlock"/>).</summary>
    public byte[] Block { get; } = block;

    /// <summary>The events, as slices of <see cref="Block"/>.</summary>
    public BackendEvent[] Events { get; } = events;

    public long LastSequence => FirstSequence + Events.Length - 1;

    public long PublishedMs { get; } = publishedMs;

    public TaskCompletionSource<AppendResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
