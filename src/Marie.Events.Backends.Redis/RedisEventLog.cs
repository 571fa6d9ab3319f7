using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>One event as the shared log holds it.</summary>
internal readonly record struct SharedEvent(long Sequence, long PublishedAtMs, byte[] Data);

/// <summary>
/// The shared event log in Redis (cluster mode). Keys, all under the key prefix: <c>seq:{topic}</c> (the last
/// sequence number, INCR), <c>epoch:{topic}</c> (16 hex chars, set once), <c>log:{topic}</c> (a stream, entry id
/// <c>{seq}-0</c>, fields <c>d</c> = the event's protobuf bytes and <c>t</c> = published_at in unix ms, trimmed to
/// about replay_size entries), <c>topics</c> (a set), <c>pub:{token}</c> (the result of one append, kept an hour
/// so a retried attempt is not filed twice). Every accepted event is announced on the channel <c>fanout</c>.
/// </summary>
internal sealed class RedisEventLog(IConnectionMultiplexer redis, string prefix)
{
    /// <summary>How long the result of a publish is kept for a retry of it: far longer than any retry schedule of
    /// toast.grpc.retry.* reaches (an attempt waits at most a few seconds for Redis).</summary>
    private const int PublishTokenTtlSeconds = 3600;

    /// <summary>KEYS: seq, epoch, log, topics, token. ARGV: topic, published_at ms, replay_size, candidate epoch,
    /// channel, token ttl, then the events' bytes. Numbers the batch contiguously (INCRBY), stores and announces each
    /// event, and returns {first seq, epoch}; a token already used returns its first result.</summary>
    private const string PublishScript = """
        local done = redis.call('GET', KEYS[5])
        if done then
          local sep = string.find(done, ':', 1, true)
          return {tonumber(string.sub(done, 1, sep - 1)), string.sub(done, sep + 1)}
        end
        redis.call('SET', KEYS[2], ARGV[4], 'NX')
        local epoch = redis.call('GET', KEYS[2])
        local count = #ARGV - 6
        local last = redis.call('INCRBY', KEYS[1], count)
        local first = last - count + 1
        local header = '\n' .. epoch .. '\n' .. ARGV[2] .. '\n' .. string.len(ARGV[1]) .. '\n' .. ARGV[1]
        for i = 1, count do
          local seq = first + i - 1
          redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'd', ARGV[6 + i], 't', ARGV[2])
          redis.call('PUBLISH', ARGV[5], seq .. header .. ARGV[6 + i])
        end
        redis.call('SADD', KEYS[4], ARGV[1])
        redis.call('SET', KEYS[5], first .. ':' .. epoch, 'EX', ARGV[6])
        return {first, epoch}
        """;

    public IConnectionMultiplexer Redis { get; } = redis;

    public string Prefix { get; } = prefix;

    public RedisChannel FanoutChannel => RedisChannel.Literal(Prefix + "fanout");

    private IDatabase Db => Redis.GetDatabase();

    private RedisKey SeqKey(string topic) => Prefix + "seq:" + topic;

    private RedisKey EpochKey(string topic) => Prefix + "epoch:" + topic;

    private RedisKey LogKey(string topic) => Prefix + "log:" + topic;

    private RedisKey TopicsKey => Prefix + "topics";

    /// <summary>Appends a batch of one topic's events: one script, so the numbers, the entries, the topic set and
    /// the announcements are one atomic step. Returns once Redis accepted them.</summary>
    public async Task<(long First, string Epoch)> AppendAsync(
        string topic,
        IReadOnlyList<byte[]> events,
        long publishedAtMs,
        int replaySize,
        string candidateEpoch,
        string token)
    {
        RedisKey[] keys = [SeqKey(topic), EpochKey(topic), LogKey(topic), TopicsKey, Prefix + "pub:" + token];
        var args = new RedisValue[6 + events.Count];
        args[0] = topic;
        args[1] = publishedAtMs;
        args[2] = replaySize;
        args[3] = candidateEpoch;
        args[4] = Prefix + "fanout";
        args[5] = PublishTokenTtlSeconds;
        for (var i = 0; i < events.Count; i++)
        {
            args[6 + i] = events[i];
        }

        var result = (RedisResult[])(await Db.ScriptEvaluateAsync(PublishScript, keys, args).ConfigureAwait(false))!;
        return ((long)result[0], (string)result[1]!);
    }

    /// <summary>Events <paramref name="from"/>..<paramref name="to"/> still in the stream, in order.</summary>
    public async Task<List<SharedEvent>> RangeAsync(string topic, long from, long to)
    {
        var entries = await Db.StreamRangeAsync(LogKey(topic), Id(from), Id(to)).ConfigureAwait(false);
        return [.. entries.Select(ToShared)];
    }

    /// <summary>The topic's epoch and last sequence number; null when Redis does not know the topic.</summary>
    public async Task<(string Epoch, long Head)?> PositionAsync(string topic)
    {
        var values = await Db.StringGetAsync([EpochKey(topic), SeqKey(topic)]).ConfigureAwait(false);
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

    /// <summary>Cluster-wide figures of some topics Redis knows: epoch, head (the sequence) and buffered (the
    /// stream's length).</summary>
    public async Task<Dictionary<string, (string Epoch, long Head, long Buffered)>> TopicFiguresAsync(
        IEnumerable<string> topics)
    {
        var batch = Db.CreateBatch();
        var pending = topics
            .Select(t => (
                Topic: t,
                Epoch: batch.StringGetAsync(EpochKey(t)),
                Head: batch.StringGetAsync(SeqKey(t)),
                Length: batch.StreamLengthAsync(LogKey(t))))
            .ToList();
        batch.Execute();
        var figures = new Dictionary<string, (string, long, long)>(StringComparer.Ordinal);
        foreach (var (topic, epoch, head, length) in pending)
        {
            var e = await epoch.ConfigureAwait(false);
            var h = await head.ConfigureAwait(false);
            var l = await length.ConfigureAwait(false);
            if (!e.IsNull)
            {
                figures[topic] = ((string)e!, h.IsNull ? 0 : (long)h, l);
            }
        }

        return figures;
    }

    /// <summary>Parses one announcement: <c>seq \n epoch \n published_at_ms \n topic_length \n topic
    /// data</c>.</summary>
    public static bool TryParseAnnouncement(byte[] message, out string topic, out string epoch, out SharedEvent shared)
    {
        topic = epoch = "";
        shared = default;
        var span = message.AsSpan();
        Span<Range> fields = stackalloc Range[4];
        var start = 0;
        for (var i = 0; i < fields.Length; i++)
        {
            var newline = span[start..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return false;
            }

            fields[i] = new Range(start, start + newline);
            start += newline + 1;
        }

        if (!long.TryParse(span[fields[0]], NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            || !long.TryParse(span[fields[2]], NumberStyles.None, CultureInfo.InvariantCulture, out var publishedAt)
            || !int.TryParse(span[fields[3]], NumberStyles.None, CultureInfo.InvariantCulture, out var topicLength)
            || topicLength > span.Length - start)
        {
            return false;
        }

        epoch = Encoding.UTF8.GetString(span[fields[1]]);
        topic = Encoding.UTF8.GetString(span.Slice(start, topicLength));
        shared = new SharedEvent(seq, publishedAt, span[(start + topicLength)..].ToArray());
        return true;
    }

    private static RedisValue Id(long sequence) => sequence.ToString(CultureInfo.InvariantCulture);

    private static SharedEvent ToShared(StreamEntry entry)
    {
        var id = (string)entry.Id!;
        var sequence = long.Parse(
            id.AsSpan(0, id.IndexOf('-', StringComparison.Ordinal)),
            CultureInfo.InvariantCulture);
        return new SharedEvent(sequence, (long)entry["t"], (byte[])entry["d"]!);
    }
}
