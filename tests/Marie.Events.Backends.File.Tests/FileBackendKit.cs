using Marie.Events.Broker;
using Marie.Events.Broker.Storage;
using Marie.Events.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Backends.File.Tests;

/// <summary>A real broker on a file backend in a folder; disposing closes both (cleanly).</summary>
public sealed class Node : IAsyncDisposable
{
    private Node(FileEventBackend backend, GrpcEventBroker broker, BackendLoad load)
    {
        Backend = backend;
        Broker = broker;
        Load = load;
    }

    public FileEventBackend Backend { get; }

    public GrpcEventBroker Broker { get; }

    public BackendLoad Load { get; }

    public static async Task<Node> StartAsync(string folder, int replaySize = 50, FsyncMode fsync = FsyncMode.Always)
    {
        var backend = new FileEventBackend(
            new FileBackendOptions { Path = folder, ReplaySize = replaySize, Fsync = fsync, FsyncIntervalMs = 20 });
        var broker = new GrpcEventBroker(
            new BrokerOptions { ReplaySize = replaySize },
            new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000)),
            null,
            backend);
        try
        {
            var load = await broker.StartAsync();
            return new Node(backend, broker, load);
        }
        catch
        {
            broker.Dispose();
            await backend.DisposeAsync();
            throw;
        }
    }

    public TopicStats Topic(string topic) => Broker.Stats().TopicStats[topic];

    /// <summary>Publishes events named <c>{topic}-{n}</c> for n = from..from+count-1.</summary>
    public ValueTask<AppendResult> PublishAsync(string topic, int from, int count, int payloadBytes = 0) =>
        Broker.PublishAsync(topic, Events(topic, from, count, payloadBytes));

    public static List<EventData> Events(string topic, int from, int count, int payloadBytes = 0)
    {
        var events = new List<EventData>(count);
        for (var i = 0; i < count; i++)
        {
            events.Add(new EventData
            {
                Id = Guid.NewGuid().ToString("N"),
                ApiKey = topic,
                Event = $"{topic}-{from + i}",
                Source = "test",
                Status = "INFO",
                Jobtag = new string('x', payloadBytes),
                Timestamp = 1,
            });
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        Broker.Dispose();
        await Backend.DisposeAsync();
    }
}

/// <summary>A temp folder removed at the end.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(
        System.IO.Path.GetTempPath(),
        "marie-file-" + Guid.NewGuid().ToString("N"));

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
