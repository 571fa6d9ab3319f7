using Marie.Events.Broker.Limits;
using Marie.Events.Broker.Storage;
using StackExchange.Redis;

namespace Marie.Events.Backends.Redis;

/// <summary>The fan-out side: connecting, following each topic's shard channel, and the one apply loop.</summary>
public sealed partial class RedisEventBackend
{
    /// <summary>Topics whose shard channel this gateway follows (touched by the apply loop only).</summary>
    private readonly HashSet<string> _followed = new(StringComparer.Ordinal);

    /// <summary>Each followed topic's position in Redis at the last periodic catch-up (apply loop only).</summary>
    private readonly Dictionary<string, (string Epoch, long Head)> _audited = new(StringComparer.Ordinal);

    /// <summary>1 while a periodic catch-up waits in the apply loop's queue (so a slow loop never piles them
    /// up).</summary>
    private int _auditQueued;

    /// <summary>Queues a periodic catch-up every <c>catch_up_interval_ms</c> until the backend stops. Each one
    /// compares every followed topic's head in Redis at the one before with this gateway's own, and fills what it
    /// lacks. Redis PUB/SUB delivers at most once: an announcement published while this gateway's subscription is
    /// down (a reconnect, a failover that moved the shard) is never sent again, and when no later announcement of
    /// the topic comes to reveal the gap, only a catch-up finds it.</summary>
    private async Task AuditAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_options.CatchUpIntervalMs, cancellationToken).ConfigureAwait(false);
                if (Interlocked.Exchange(ref _auditQueued, 1) == 0)
                {
                    _work.Writer.TryWrite(new Audit());
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>The catch-ups of <see cref="LaterCatchUps"/> after a reconnect, until the backend stops.</summary>
    private async Task CatchUpLaterAsync(CancellationToken cancellationToken)
    {
        try
        {
            var waited = TimeSpan.Zero;
            foreach (var at in LaterCatchUps)
            {
                await Task.Delay(at - waited, cancellationToken).ConfigureAwait(false);
                waited = at;
                _work.Writer.TryWrite(new CatchUp(null));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Connects to Redis, loads every topic's recent events into <paramref name="listener"/>, and follows
    /// every topic's channel from then on.</summary>
    /// <exception cref="BackendException">Redis cannot be reached (the message names the key).</exception>
    public async Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _listener = listener;
        var settings = _options;
        var options = ConfigurationOptions.Parse(settings.Connection);
        // Fail start-up when Redis cannot be reached at all; once connected, the client reconnects by itself.
        options.AbortOnConnectFail = true;
        options.SocketManager = settings.IoThreads == RedisBackendOptions.IoThreadsDedicated
            ? SocketManager.Shared
            : SocketManager.ThreadPool;
        try
        {
            _redis = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            throw new BackendException(
                "toast.grpc.broker.backend is redis but Redis at toast.grpc.broker.redis.connection "
                    + $"('{settings.Connection}') cannot be reached: {ex.Message}", ex);
        }

        _redis.ConnectionFailed += (_, e) => RedisBackendLog.ConnectionLost(_logger, e.FailureType, e.Exception);
        _redis.ConnectionRestored += (_, e) =>
        {
            RedisBackendLog.ConnectionRestored(_logger, e.ConnectionType);
            _work.Writer.TryWrite(new CatchUp(null));
            _ = CatchUpLaterAsync(_stop.Token);
        };
        Log = new RedisEventLog(_redis, settings.KeyPrefix)
        {
            CatchUpReads = settings.AckReplicas > 0 ? CommandFlags.PreferReplica : CommandFlags.None,
        };
        _durables = new RedisDurableStore(_redis, settings.KeyPrefix);
        _deadLetters = new RedisDeadLetterStore(_redis, settings.KeyPrefix);
        await UpgradeDeadLettersAsync(cancellationToken).ConfigureAwait(false);

        // Topics named by other gateways are followed as they appear; the first catch-up, queued after that
        // subscription, follows every registered topic and reads each one's log.
        var topics = await _redis.GetSubscriber().SubscribeAsync(Log.TopicsChannel).ConfigureAwait(false);
        topics.OnMessage(message => _work.Writer.TryWrite(new Follow((string)message.Message!)));
        var loaded = new TaskCompletionSource<BackendLoad>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Writer.TryWrite(new CatchUp(loaded));
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        _ = AuditAsync(_stop.Token);
        var load = await loaded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var endpoints = string.Join(",", options.EndPoints);
        RedisBackendLog.Started(_logger, NodeName, endpoints, settings.KeyPrefix, load.Topics, load.Events);
        return load;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await foreach (var work in _work.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                switch (work)
                {
                    case Announcement a:
                        await ApplyAnnouncementAsync(a.Message).ConfigureAwait(false);
                        break;
                    case Follow f:
                        if (await FollowAsync([f.Topic]).ConfigureAwait(false) > 0)
                        {
                            await CatchUpTopicAsync(f.Topic).ConfigureAwait(false);
                        }

                        break;
                    case CatchUp c:
                        var loaded = await CatchUpAsync().ConfigureAwait(false);
                        c.Done?.TrySetResult(loaded);
                        break;
                    case Audit:
                        Volatile.Write(ref _auditQueued, 0);
                        var (behind, filled) = await CatchUpBehindAsync().ConfigureAwait(false);
                        if (filled > 0)
                        {
                            RedisBackendLog.AuditFilled(_logger, filled, behind);
                        }

                        break;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException
                || !cancellationToken.IsCancellationRequested)
            {
                // The loop must outlive any one failure: it is the only path from Redis to the local rings.
                RedisBackendLog.ApplyFailed(_logger, ex);
                if (work is CatchUp { Done: { } done })
                {
                    done.TrySetException(ex);
                }
                // A failure here mostly comes from Redis being away: the catch-up after its return fills what was
                // missed (and follows what was not followed). Anything else is logged, and the next announcement
                // of the topic finds the gap and fills it.
            }
        }
    }

    /// <summary>Subscribes to the shard channels of the topics not followed yet (all at once); returns how
    /// many.</summary>
    private async Task<int> FollowAsync(IEnumerable<string> topics)
    {
        var fresh = topics.Where(_followed.Add).ToList();
        var subscriber = _redis!.GetSubscriber();
        var subscribing = fresh.Select(topic => subscriber.SubscribeAsync(Log!.FanoutChannel(topic))).ToList();
        Exception? failure = null;
        for (var i = 0; i < fresh.Count; i++)
        {
            try
            {
                var queue = await subscribing[i].ConfigureAwait(false);
                queue.OnMessage(message => _work.Writer.TryWrite(new Announcement((byte[])message.Message!)));
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Not followed: the next catch-up (after a reconnect) tries again.
                _followed.Remove(fresh[i]);
                failure ??= ex;
            }
        }

        return failure is null ? fresh.Count : throw failure;
    }

    private async Task ApplyAnnouncementAsync(byte[] message)
    {
        if (!RedisAnnouncement.TryParse(message, out var topic, out var epoch, out var events) || events.Count == 0)
        {
            RedisBackendLog.BadAnnouncement(_logger, message.Length);
            return;
        }

        var last = events[^1].Sequence;
        switch (Apply(topic, epoch, events, allowGap: false))
        {
            case ApplyOutcome.Gap:
                await FillThenApplyAsync(topic, epoch, events, last).ConfigureAwait(false);
                break;
            case ApplyOutcome.EpochChanged:
                Reset(topic, epoch);
                if (Apply(topic, epoch, events, allowGap: false) == ApplyOutcome.Gap)
                {
                    await FillThenApplyAsync(topic, epoch, events, last).ConfigureAwait(false);
                }

                break;
        }
    }

    /// <summary>Fills the gap before an announced batch from the log, then applies the batch itself (a replica read
    /// may not hold it yet; when the fill did, nothing changes).</summary>
    private async Task FillThenApplyAsync(string topic, string epoch, List<SharedEvent> events, long last)
    {
        await FillAsync(topic, epoch, last).ConfigureAwait(false);
        Apply(topic, epoch, events, allowGap: false);
    }

    /// <summary>Follows every topic (the registry's and the broker's) and brings each up to the shared log's head;
    /// returns (topics, events applied).</summary>
    private async Task<BackendLoad> CatchUpAsync()
    {
        var names = new HashSet<string>(await Log!.TopicsAsync().ConfigureAwait(false), StringComparer.Ordinal);
        names.UnionWith(_listener!.TopicNames());
        await FollowAsync(names).ConfigureAwait(false);
        var topics = 0;
        long events = 0;
        foreach (var topic in names)
        {
            if (await CatchUpTopicAsync(topic).ConfigureAwait(false) is { } applied)
            {
                topics++;
                events += applied;
            }
        }

        return new BackendLoad(topics, events);
    }

    /// <summary>Reads the head of every followed topic in Redis at once (pipelined) and fills each topic whose
    /// local head has not reached the head Redis had at the previous audit: those events were announced at least
    /// one interval ago, so their announcements are lost, not late. Returns (topics behind, events
    /// applied).</summary>
    private async Task<(int Topics, long Events)> CatchUpBehindAsync()
    {
        var topics = _followed.ToList();
        var positions = topics.Select(t => Log!.PositionAsync(t)).ToList();
        try
        {
            await Task.WhenAll(positions).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis is away: nothing to compare with now, and the catch-ups after the reconnect fill what is missed
            // (8002 and 8003 say so); an outage does not log a failure every interval.
            return (0, 0);
        }

        var behind = 0;
        long events = 0;
        for (var i = 0; i < topics.Count; i++)
        {
            var topic = topics[i];
            if (await positions[i].ConfigureAwait(false) is not { } shared)
            {
                _audited.Remove(topic);
                continue;
            }

            var local = _listener!.GetTopicPosition(topic);
            if (_audited.TryGetValue(topic, out var before)
                && string.Equals(before.Epoch, shared.Epoch, StringComparison.Ordinal)
                && (local?.Head ?? 0) < before.Head)
            {
                behind++;
                events += await CatchUpTopicAsync(topic).ConfigureAwait(false) ?? 0;
            }

            _audited[topic] = shared;
        }

        return (behind, events);
    }

    /// <summary>Brings one topic up to the shared log's head; null when Redis does not know the topic.</summary>
    private async Task<int?> CatchUpTopicAsync(string topic)
    {
        if (await Log!.PositionAsync(topic).ConfigureAwait(false) is not { } shared)
        {
            // Redis does not know the topic (it lost its data and nothing was published since): the first publish
            // gives it a new epoch, which resets it here then.
            return null;
        }

        var local = _listener!.GetTopicPosition(topic);
        if (local is { Head: > 0 } l && !string.Equals(l.Epoch, shared.Epoch, StringComparison.Ordinal))
        {
            Reset(topic, shared.Epoch);
            local = null;
        }

        return shared.Head > (local?.Head ?? 0)
            ? await FillAsync(topic, shared.Epoch, shared.Head).ConfigureAwait(false)
            : 0;
    }

    /// <summary>Applies the events after the local head up to <paramref name="upTo"/> (at most replay_size of them)
    /// from the log, in one pass; numbers the log does not hold (trimmed) read as lost.</summary>
    private async Task<int> FillAsync(string topic, string epoch, long upTo)
    {
        var head = _listener!.GetTopicPosition(topic)?.Head ?? 0;
        var from = Math.Max(head + 1, upTo - ReplaySize + 1);
        var started = _metrics.Start();
        var events = await Log!.RangeAsync(topic, from, upTo).ConfigureAwait(false);
        _metrics.Record(started, "read");
        var before = _listener.GetTopicPosition(topic)?.Head ?? 0;
        var outcome = events.Count == 0 ? ApplyOutcome.AlreadyHeld : Apply(topic, epoch, events, allowGap: true);
        // EpochChanged: Redis was reset while this was read; the next announcement or catch-up sorts it out.
        var applied = outcome == ApplyOutcome.Applied
            ? (int)((_listener.GetTopicPosition(topic)?.Head ?? 0) - before)
            : 0;
        RedisBackendLog.GapFilled(_logger, topic, applied, upTo);
        return applied;
    }

    /// <summary>Hands one topic's events to the broker in one call (a batch is applied in one pass under the
    /// topic's lock); the events stay bytes, parsed by no one but the ring's field reader.</summary>
    private ApplyOutcome Apply(string topic, string epoch, List<SharedEvent> events, bool allowGap)
    {
        var batch = new BackendEvent[events.Count];
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i] = ToBackendEvent(events[i]);
        }

        try
        {
            return _listener!.Apply(topic, epoch, batch, allowGap);
        }
        catch (BrokerLimitException ex)
        {
            // This gateway holds max_topics topics already: the topic is not served here.
            RedisBackendLog.NotApplied(_logger, topic, events[0].Sequence, ex.Message);
            return ApplyOutcome.AlreadyHeld;
        }
    }

    private void Reset(string topic, string epoch)
    {
        var closed = _listener!.Reset(topic, epoch);
        RedisBackendLog.EpochChanged(_logger, topic, epoch, closed);
    }

    private abstract record Work;

    private sealed record Announcement(byte[] Message) : Work;

    /// <summary>Follow a topic (named on the topics channel, or published to here) and catch it up.</summary>
    private sealed record Follow(string Topic) : Work;

    /// <summary>The periodic catch-up (<c>catch_up_interval_ms</c>).</summary>
    private sealed record Audit : Work;

    /// <summary>Catch up every topic; <paramref name="Done"/> (start-up's) gets the figures.</summary>
    private sealed record CatchUp(TaskCompletionSource<BackendLoad>? Done) : Work;
}
