using System.Globalization;
using System.IO.Hashing;
using System.Text;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>
/// The shared event log in Redis (cluster mode). Every key of a topic carries the topic as its hash tag, so one
/// topic's keys share one slot of a Redis Cluster (a topic name holding a brace is tagged by its hash). Under the
/// key prefix P: <c>P{topic}:seq</c> (the last sequence number), <c>P{topic}:epoch</c> (16 hex chars, set once),
/// <c>P{topic}:log</c> (a stream of chunks: entry id <c>{seq}-0</c> of the chunk's first event, fields <c>n</c> =
/// its event count, <c>t</c> = published_at in unix ms, <c>b</c> = its events as <see cref="EventChunk"/> encodes
/// them; trimmed to the entries holding the newest replay_size events), <c>P{topic}:pub:{publisher}</c> (a hash:
/// the results of one gateway's last <see cref="PublishTokensKept"/> appends to the topic, by token, kept an hour
/// after its last append so a retried attempt is not filed twice), the shard channel <c>P{topic}:fanout</c>
/// (SPUBLISH: a topic's traffic stays on its shard), the topic registry <c>Ptopics</c> (a set) and the channel
/// <c>Ptopics</c> on which a gateway names a topic it starts publishing to.
/// </summary>
internal sealed class RedisEventLog(IConnectionMultiplexer redis, string prefix)
{
    /// <summary>How long a gateway's publish results for a topic are kept after its last append there, for a retry
    /// of one: far longer than any retry schedule of toast.grpc.retry.* reaches between two attempts (at most
    /// <c>backoff_max_s</c>, 2 s by default), so only an outage of Redis longer than this can lose the
    /// record.</summary>
    private const int PublishTokenTtlSeconds = 3600;

    /// <summary>Results kept per topic and gateway: a token is looked up again only by a retry or a fence, and both
    /// name one of the appends still in flight, at most <c>pipeline_depth</c> (≤ 256) per lane behind the newest
    /// (the lane starts nothing new while it retries). Four lanes at the largest depth fit; a hash of 1,024 short
    /// fields is about 40 KB.</summary>
    public const int PublishTokensKept = 1024;

    /// <summary>The error an append refused by its fence answers with (its predecessor is not filed).</summary>
    public const string FenceError = "MARIEFENCE";

    /// <summary>Events a log entry holds at most: a batch is filed in entries of up to this many (one for the
    /// batches a busy topic forms, which <c>GrpcToastHandler</c> caps at 256, four at most), so a read finds the entry
    /// that holds a number at most this many ids before it, and trimming keeps that many more than
    /// replay_size.</summary>
    public const int EventsPerEntry = 64;

    /// <summary>KEYS: seq, epoch, log, the publisher's results (a hash). ARGV: topic, published_at ms, replay_size,
    /// candidate epoch, shard channel ("" = announce later), results ttl, token, fence (the token of the append
    /// before it, "" when unfenced), results kept, the batch's event count, events per entry at most, then per
    /// entry its event count and its chunk (<see cref="EventChunk"/>). A token already used answers its first
    /// result; a fenced append whose predecessor is not filed is refused; otherwise the batch is numbered
    /// contiguously (INCRBY), stored (one XADD per chunk: Redis's cost is per command far more than per byte),
    /// trimmed to the entries that hold the newest replay_size events, announced as one message, and its result
    /// recorded under its token (the token that many before it is dropped: tokens of one publisher and topic count
    /// up by one). Returns {first seq, epoch}.</summary>
    private const string PublishScript = """
        local done = redis.call('HGET', KEYS[4], ARGV[7])
        if done then
          local sep = string.find(done, ':', 1, true)
          return {tonumber(string.sub(done, 1, sep - 1)), string.sub(done, sep + 1)}
        end
        if ARGV[8] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[8]) == 0 then
          return redis.error_reply('MARIEFENCE the append before this one of the topic is not filed')
        end
        redis.call('SET', KEYS[2], ARGV[4], 'NX')
        local epoch = redis.call('GET', KEYS[2])
        local count = tonumber(ARGV[10])
        local last = redis.call('INCRBY', KEYS[1], count)
        local first = last - count + 1
        local keep = math.max(0, last - tonumber(ARGV[3]) - tonumber(ARGV[11]) + 2)
        local chunks = {}
        local seq = first
        for i = 12, #ARGV, 2 do
          redis.call('XADD', KEYS[3], 'MINID', '~', keep, seq .. '-0', 'n', ARGV[i], 't', ARGV[2], 'b', ARGV[i + 1])
          seq = seq + tonumber(ARGV[i])
          chunks[#chunks + 1] = ARGV[i + 1]
        end
        redis.call('HSET', KEYS[4], ARGV[7], first .. ':' .. epoch)
        redis.call('HDEL', KEYS[4], tostring(tonumber(ARGV[7]) - tonumber(ARGV[9])))
        redis.call('EXPIRE', KEYS[4], ARGV[6])
        if ARGV[5] ~= '' then
          local header = first .. '\n' .. epoch .. '\n' .. ARGV[2] .. '\n' .. string.len(ARGV[1]) .. '\n' .. ARGV[1]
          redis.call('SPUBLISH', ARGV[5], header .. count .. '\n' .. table.concat(chunks))
        end
        return {first, epoch}
        """;

    public IConnectionMultiplexer Redis { get; } = redis;

    public string Prefix { get; } = prefix;

    /// <summary>The channel on which gateways name topics they start publishing to (plain PUB/SUB: reaches every
    /// node of a cluster; a few messages per topic).</summary>
    public RedisChannel TopicsChannel => RedisChannel.Literal(Prefix + "topics");

    private IDatabase Db => Redis.GetDatabase();

    /// <summary>Where catch-up reads (a topic's position and log) go: with ack_replicas, a replica when there is
    /// one, so a gateway catching up sees what replicas confirmed rather than a batch whose WAIT is pending.</summary>
    public CommandFlags CatchUpReads { get; init; } = CommandFlags.None;

    private RedisKey TopicsKey => Prefix + "topics";

    /// <summary>The topic's shard channel.</summary>
    public RedisChannel FanoutChannel(string topic) => RedisChannel.Sharded(Key(topic, "fanout"));

    /// <summary>The hash tag of a topic's keys: the topic itself, or "h" and its 64-bit hash when it holds a brace
    /// (which would end or split the tag).</summary>
    public static string Tag(string topic) =>
        topic.AsSpan().IndexOfAny('{', '}') < 0
            ? topic
            : "h" + Convert.ToHexStringLower(XxHash64.Hash(Encoding.UTF8.GetBytes(topic)));

    private string Key(string topic, string name) => Prefix + "{" + Tag(topic) + "}:" + name;

    private RedisKey SeqKey(string topic) => Key(topic, "seq");

    private RedisKey EpochKey(string topic) => Key(topic, "epoch");

    private RedisKey LogKey(string topic) => Key(topic, "log");

    /// <summary>Appends a batch of one topic's events: one script, so the numbers, the entries, the result and the
    /// announcement (unless <paramref name="announce"/> is false) are one atomic step. The command is issued before
    /// this returns its task, so appends issued in order reach Redis in order. <paramref name="token"/> counts up by
    /// one per append of <paramref name="publisher"/> to the topic; with <paramref name="fence"/>, the append is
    /// refused (<see cref="FenceError"/>) unless the append of that token was filed.</summary>
    public Task<RedisResult> IssueAppend(
        string topic,
        EventChunk[] chunks,
        long publishedAtMs,
        int replaySize,
        string candidateEpoch,
        string publisher,
        long token,
        long? fence,
        bool announce)
    {
        RedisKey[] keys = [SeqKey(topic), EpochKey(topic), LogKey(topic), Key(topic, "pub:" + publisher)];
        var args = new RedisValue[11 + (2 * chunks.Length)];
        args[0] = topic;
        args[1] = publishedAtMs;
        args[2] = replaySize;
        args[3] = candidateEpoch;
        args[4] = announce ? Key(topic, "fanout") : "";
        args[5] = PublishTokenTtlSeconds;
        args[6] = token;
        args[7] = fence is { } f ? f : "";
        args[8] = PublishTokensKept;
        args[10] = EventsPerEntry;
        var count = 0;
        for (var i = 0; i < chunks.Length; i++)
        {
            args[11 + (2 * i)] = chunks[i].Count;
            args[12 + (2 * i)] = chunks[i].Bytes;
            count += chunks[i].Count;
        }

        args[9] = count;
        return Db.ScriptEvaluateAsync(PublishScript, keys, args);
    }

    /// <summary>The first number and epoch of an append's script result.</summary>
    public static (long First, string Epoch) AppendResultOf(RedisResult result)
    {
        var values = (RedisResult[])result!;
        return ((long)values[0], (string)values[1]!);
    }

    /// <summary>Waits until <paramref name="replicas"/> replicas of the topic's primary confirmed every write this
    /// gateway made there (WAIT, on the connection the appends went through); returns how many did.</summary>
    public async Task<long> WaitForReplicasAsync(string topic, int replicas, int timeoutMs)
    {
        var endpoint = await Db.IdentifyEndpointAsync(SeqKey(topic)).ConfigureAwait(false)
            ?? throw new RedisConnectionException(ConnectionFailureType.UnableToResolvePhysicalConnection,
                $"no Redis primary serves topic {topic}");
        var answer = await Redis.GetServer(endpoint).ExecuteAsync("WAIT", replicas, timeoutMs).ConfigureAwait(false);
        return (long)answer;
    }

    /// <summary>Publishes a batch's announcement on the topic's shard channel.</summary>
    public Task AnnounceAsync(string topic, byte[] announcement) =>
        Redis.GetSubscriber().PublishAsync(FanoutChannel(topic), announcement);

    /// <summary>Adds the topic to the registry and names it on the topics channel, so every gateway follows
    /// it.</summary>
    public async Task RegisterAsync(string topic)
    {
        await Db.SetAddAsync(TopicsKey, topic).ConfigureAwait(false);
        await Redis.GetSubscriber().PublishAsync(TopicsChannel, topic).ConfigureAwait(false);
    }

    /// <summary>Events <paramref name="from"/>..<paramref name="to"/> still in the stream, in order.</summary>
    public async Task<List<SharedEvent>> RangeAsync(string topic, long from, long to)
    {
        // The entry holding `from` starts at most EventsPerEntry - 1 numbers before it.
        var entries = await Db.StreamRangeAsync(
                LogKey(topic), Id(Math.Max(0, from - EventsPerEntry + 1)), Id(to), flags: CatchUpReads)
            .ConfigureAwait(false);
        var events = new List<SharedEvent>();
        foreach (var entry in entries)
        {
            ReadEntry(entry, events);
        }

        events.RemoveAll(e => e.Sequence < from || e.Sequence > to);
        return events;
    }

    /// <summary>The topic's epoch and last sequence number; null when Redis does not know the topic.</summary>
    public async Task<(string Epoch, long Head)?> PositionAsync(string topic)
    {
        var values = await Db.StringGetAsync([EpochKey(topic), SeqKey(topic)], CatchUpReads).ConfigureAwait(false);
        if (values[0].IsNull)
        {
            return null;
        }

        return ((string)values[0]!, values[1].IsNull ? 0 : (long)values[1]);
    }

    /// <summary>Every topic ever published to (since the data set began).</summary>
    public async Task<List<string>> TopicsAsync()
    {
        var members = await Db.SetMembersAsync(TopicsKey).ConfigureAwait(false);
        return [.. members.Select(m => (string)m!)];
    }

    /// <summary>Cluster-wide figures of some topics Redis knows: epoch, head (the sequence) and buffered (the events
    /// from the stream's oldest entry to the head).</summary>
    public async Task<Dictionary<string, (string Epoch, long Head, long Buffered)>> TopicFiguresAsync(
        IEnumerable<string> topics)
    {
        var batch = Db.CreateBatch();
        var pending = topics
            .Select(t => (
                Topic: t,
                Epoch: batch.StringGetAsync(EpochKey(t)),
                Head: batch.StringGetAsync(SeqKey(t)),
                Oldest: batch.StreamRangeAsync(LogKey(t), "-", "+", count: 1)))
            .ToList();
        batch.Execute();
        var figures = new Dictionary<string, (string, long, long)>(StringComparer.Ordinal);
        foreach (var (topic, epoch, head, oldest) in pending)
        {
            var e = await epoch.ConfigureAwait(false);
            var h = await head.ConfigureAwait(false);
            var o = await oldest.ConfigureAwait(false);
            if (!e.IsNull)
            {
                var headSeq = h.IsNull ? 0 : (long)h;
                figures[topic] = ((string)e!, headSeq, o.Length == 0 ? 0 : headSeq - SequenceOf(o[0]) + 1);
            }
        }

        return figures;
    }

    private static RedisValue Id(long sequence) => sequence.ToString(CultureInfo.InvariantCulture);

    private static long SequenceOf(StreamEntry entry)
    {
        var id = (string)entry.Id!;
        return long.Parse(id.AsSpan(0, id.IndexOf('-', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
    }

    /// <summary>Adds the events of one entry: a chunk (fields <c>n</c>, <c>t</c>, <c>b</c>), or one event (fields
    /// <c>d</c>, <c>t</c>: the layout before chunks, still read).</summary>
    private static void ReadEntry(StreamEntry entry, List<SharedEvent> events)
    {
        var sequence = SequenceOf(entry);
        var publishedAt = (long)entry["t"];
        var chunk = entry["b"];
        if (chunk.IsNull)
        {
            events.Add(new SharedEvent(sequence, publishedAt, (byte[])entry["d"]!));
            return;
        }

        if (!RedisAnnouncement.TryParseEvents((byte[])chunk!, 0, sequence, (long)entry["n"], publishedAt, events))
        {
            throw new RedisException($"the log entry {entry.Id} is not a chunk of events this gateway can read");
        }
    }
}
