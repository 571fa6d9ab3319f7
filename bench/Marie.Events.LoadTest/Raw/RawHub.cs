using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.LoadTest.Raw;

/// <summary>Topics and the streams subscribed to them; per topic only a sequence counter and a subscriber
/// list.</summary>
internal sealed class RawHub : IDisposable
{
    private readonly ConcurrentDictionary<string, RawTopic> _topics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<RawStream, byte> _streams = new();
    private readonly Timer _heartbeat;

    public RawHub(TimeSpan heartbeat)
    {
        _heartbeat = new Timer(_ => Heartbeat(), null, heartbeat, heartbeat);
    }

    public void Add(RawStream stream) => _streams.TryAdd(stream, 0);

    public void Remove(RawStream stream)
    {
        _streams.TryRemove(stream, out _);
        foreach (var subscription in stream.Subscriptions)
        {
            subscription.Topic.Remove(subscription);
        }
    }

    public void Subscribe(RawStream stream, SubscribeRequest request)
    {
        foreach (var name in request.Topics)
        {
            var topic = _topics.GetOrAdd(name, static n => new RawTopic(n));
            var subscription = new RawSubscription(
                stream,
                topic,
                request.SubscriptionId,
                stream.Subscriptions.Count + 1,
                request.Filter?.Jobids.Count > 0 ? [.. request.Filter.Jobids] : null);
            stream.Subscriptions.Add(subscription);
            topic.Add(subscription);
        }

        var confirm = new SubscriptionConfirm { SubscriptionId = request.SubscriptionId };
        confirm.Topics.AddRange(request.Topics);
        stream.Queue.Writer.TryWrite(new RawItem(null, null, new ServerMessage { SubscriptionConfirm = confirm }));
    }

    public PublishResponse Publish(EventData evt)
    {
        var topic = _topics.GetOrAdd(evt.ApiKey, static n => new RawTopic(n));
        var sequence = topic.Dispatch(evt, Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow));
        return new PublishResponse { Id = evt.Id, Topic = evt.ApiKey, SequenceNum = sequence };
    }

    private void Heartbeat()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var stream in _streams.Keys)
        {
            stream.Queue.Writer.TryWrite(new RawItem(
                null,
                null,
                new ServerMessage { Heartbeat = new ServerHeartbeat { Timestamp = now } }));
        }
    }

    public void Dispose() => _heartbeat.Dispose();
}

/// <summary>A topic: a sequence counter and copy-on-write subscriber lists (all, and by job id).</summary>
internal sealed class RawTopic(string name)
{
    private readonly Lock _gate = new();
    private RawSubscription[] _all = [];
    private Dictionary<string, RawSubscription[]> _byJob = new(StringComparer.Ordinal);
    private long _sequence;

    public string Name { get; } = name;

    public void Add(RawSubscription subscription)
    {
        lock (_gate)
        {
            if (subscription.JobIds is null)
            {
                _all = [.. _all, subscription];
                return;
            }

            var byJob = new Dictionary<string, RawSubscription[]>(_byJob, StringComparer.Ordinal);
            foreach (var job in subscription.JobIds)
            {
                byJob[job] = byJob.TryGetValue(job, out var list) ? [.. list, subscription] : [subscription];
            }

            _byJob = byJob;
        }
    }

    public void Remove(RawSubscription subscription)
    {
        lock (_gate)
        {
            _all = [.. _all.Where(s => s != subscription)];
            if (subscription.JobIds is null)
            {
                return;
            }

            var byJob = new Dictionary<string, RawSubscription[]>(_byJob, StringComparer.Ordinal);
            foreach (var job in subscription.JobIds)
            {
                if (byJob.TryGetValue(job, out var list))
                {
                    byJob[job] = [.. list.Where(s => s != subscription)];
                }
            }

            _byJob = byJob;
        }
    }

    /// <summary>Numbers the event and queues it for every matching stream, in order (under the topic's lock).</summary>
    public long Dispatch(EventData evt, Timestamp publishedAt)
    {
        lock (_gate)
        {
            var raw = new RawEvent(++_sequence, evt.ToByteArray(), publishedAt.ToByteArray());
            foreach (var subscription in _all)
            {
                subscription.Stream.Queue.Writer.TryWrite(new RawItem(subscription, raw, null));
            }

            if (_byJob.Count != 0 && _byJob.TryGetValue(evt.Jobid, out var matching))
            {
                foreach (var subscription in matching)
                {
                    subscription.Stream.Queue.Writer.TryWrite(new RawItem(subscription, raw, null));
                }
            }

            return raw.Sequence;
        }
    }
}

/// <summary>One client stream: its write queue and its subscriptions.</summary>
internal sealed class RawStream
{
    public Channel<RawItem> Queue { get; } = Channel.CreateUnbounded<RawItem>(
        new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Changed only by the stream's reader loop; read when it ends.</summary>
    public List<RawSubscription> Subscriptions { get; } = [];

    public void Complete() => Queue.Writer.TryComplete();
}

/// <summary>A subscription: its id and ack-id prefix as UTF-8, for the envelope.</summary>
internal sealed class RawSubscription
{
    public RawSubscription(RawStream stream, RawTopic topic, string id, int number, string[]? jobIds)
    {
        Stream = stream;
        Topic = topic;
        JobIds = jobIds;
        IdBytes = Encoding.UTF8.GetBytes(id);
        AckPrefix = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"raw.{number}."));
    }

    public RawStream Stream { get; }

    public RawTopic Topic { get; }

    public string[]? JobIds { get; }

    public byte[] IdBytes { get; }

    public byte[] AckPrefix { get; }
}

/// <summary>An event serialized once: its bytes are copied into every envelope.</summary>
internal sealed record RawEvent(long Sequence, byte[] Data, byte[] PublishedAt);

/// <summary>A queued write: a delivery (subscription + event) or a message (confirm, heartbeat).</summary>
internal readonly record struct RawItem(RawSubscription? Subscription, RawEvent? Event, ServerMessage? Message);
