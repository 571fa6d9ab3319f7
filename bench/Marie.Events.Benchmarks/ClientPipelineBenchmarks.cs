using BenchmarkDotNet.Attributes;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Client;
using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Benchmarks;

/// <summary>
/// The client library's whole cost per received event, against a loop over the same stream that does what the load
/// harness's stubs driver does (count the event, a cumulative ack every 64). Both read prebuilt
/// <c>ServerMessage</c>s from an in-memory stream (<see cref="PipelineConnection"/>) that has
/// <see cref="Burst"/> messages ready per read (the rest of a burst is read at once; the read after it completes on
/// the thread pool, as a socket read does), so protobuf parsing and the network are not counted. The client path:
/// the reader's dispatch, de-duplication and tracker, the buffer's hand-over to <c>await foreach</c>, processing,
/// ack batching and the writer loop. Per event: time, allocations, thread-pool work items and lock contentions.
/// </summary>
[MemoryDiagnoser]
[ThreadingDiagnoser]
public class ClientPipelineBenchmarks
{
    /// <summary>Events per invocation: enough that set-up is nothing per event.</summary>
    private const int Events = 20_000;

    /// <summary>The stubs driver's and the harness client's ack batch (W1's <c>AckEvery</c>).</summary>
    private const int AckEvery = 64;

    private const string Topic = "bench";
    private const string SubscriptionId = "s1";

    private PipelineConnection _clientStream = null!;
    private PipelineConnection _stubStream = null!;
    private EventStreamClient _client = null!;
    private EventSubscription _subscription = null!;
    private ServerMessage[] _messages = [];
    private long _nextSequence = 1;
    private long _consumed;
    private long _target;
    private TaskCompletionSource _done = new();

    /// <summary>Messages ready per read of the stream (1: every read waits for the "socket").</summary>
    [Params(1, 16)]
    public int Burst { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _messages = [.. Enumerable.Range(0, Events).Select(_ => new ServerMessage
        {
            Event = new EventEnvelope
            {
                SubscriptionId = SubscriptionId,
                AckId = "",
                DeliveryAttempt = 1,
                PublishedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UnixEpoch),
                Event = new EventData { ApiKey = Topic, Event = "bench.event", Jobid = "job", Source = "bench" },
            },
        })];
        _clientStream = new PipelineConnection(Burst, confirmTopic: Topic);
        _stubStream = new PipelineConnection(Burst, confirmTopic: null);
        _client = new EventStreamClient(
            new EventStreamClientOptions
            {
                Address = new Uri("http://127.0.0.1:1"),
                ApiKey = "bench-not-a-key",
                AckBatchSize = AckEvery,
                HeartbeatInterval = Timeout.InfiniteTimeSpan,
                ServerHeartbeatInterval = Timeout.InfiniteTimeSpan,
            },
            new PipelineTransport(_clientStream));
        _subscription = _client
            .SubscribeAsync(new SubscriptionOptions { SubscriptionId = SubscriptionId, Topics = { Topic } })
            .GetAwaiter()
            .GetResult();
        _ = Task.Run(ConsumeAsync);
        _ = Task.Run(StubLoopAsync);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _subscription.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        _client.Dispose();
        _stubStream.Dispose();
    }

    /// <summary>Sequence numbers after the previous iteration's (the client drops numbers it has seen).</summary>
    [IterationSetup]
    public void NextSequences()
    {
        foreach (var message in _messages)
        {
            message.Event.SequenceNum = _nextSequence;
            message.Event.AckId = "";
            _nextSequence++;
        }

        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _target = Interlocked.Read(ref _consumed) + Events;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events)]
    public Task StubLoop()
    {
        _stubStream.Feed(_messages);
        return _done.Task;
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public Task ClientLibrary()
    {
        _clientStream.Feed(_messages);
        return _done.Task;
    }

    private async Task ConsumeAsync()
    {
        await foreach (var received in _subscription)
        {
            Count(received.SequenceNum);
        }
    }

    /// <summary>What the load harness's stubs driver does per message.</summary>
    private async Task StubLoopAsync()
    {
        var unacked = 0;
        while (await _stubStream.MoveNextAsync(CancellationToken.None))
        {
            var message = _stubStream.Current;
            if (message.MessageCase != ServerMessage.MessageOneofCase.Event)
            {
                continue;
            }

            var envelope = message.Event;
            Count(envelope.SequenceNum);
            if (++unacked >= AckEvery)
            {
                unacked = 0;
                await _stubStream.WriteAsync(new ClientMessage
                {
                    Ack = new AckMessage
                    {
                        SubscriptionId = SubscriptionId,
                        Cumulative = new CumulativeAck { Topic = Topic, UpToSequenceNum = envelope.SequenceNum },
                    },
                }, CancellationToken.None);
            }
        }
    }

    private void Count(long sequence)
    {
        _ = sequence;
        if (Interlocked.Increment(ref _consumed) == _target)
        {
            _done.TrySetResult();
        }
    }

    private sealed class PipelineTransport(PipelineConnection connection) : IStreamTransport
    {
        public IStreamConnection Open(Uri address, CancellationToken cancellationToken) => connection;
    }
}

/// <summary>An in-memory stream for <see cref="ClientPipelineBenchmarks"/>: serves fed messages <c>burst</c> at a
/// time (the read after a burst completes on the thread pool), answers a subscribe with a confirm, and drops what
/// the client writes.</summary>
internal sealed class PipelineConnection(int burst, string? confirmTopic) : IStreamConnection
{
    private static readonly Task<bool> True = Task.FromResult(true);

    private readonly Lock _gate = new();
    private readonly Queue<ServerMessage> _control = new();
    private ServerMessage[] _feed = [];
    private int _next;
    private int _inBurst;
    private TaskCompletionSource<bool>? _waiting;
    private bool _ended;

    public ServerMessage Current { get; private set; } = new();

    public void Feed(ServerMessage[] messages)
    {
        TaskCompletionSource<bool>? wake;
        lock (_gate)
        {
            _feed = messages;
            _next = 0;
            wake = _waiting;
            _waiting = null;
        }

        wake?.TrySetResult(TakeNext());
    }

    public Task WriteAsync(ClientMessage message, CancellationToken cancellationToken)
    {
        if (message.MessageCase == ClientMessage.MessageOneofCase.Subscribe && confirmTopic is not null)
        {
            var confirm = new SubscriptionConfirm { SubscriptionId = message.Subscribe.SubscriptionId };
            confirm.TopicHeads[confirmTopic] = 0;
            confirm.TopicEpochs[confirmTopic] = "e1";
            TaskCompletionSource<bool>? wake;
            lock (_gate)
            {
                _control.Enqueue(new ServerMessage { SubscriptionConfirm = confirm });
                wake = _waiting;
                _waiting = null;
            }

            wake?.TrySetResult(TakeNext());
        }

        return Task.CompletedTask;
    }

    public Task<bool> MoveNextAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_ended)
            {
                return Task.FromResult(false);
            }

            if (_control.Count == 0 && _next >= _feed.Length)
            {
                _waiting = new TaskCompletionSource<bool>();
                return _waiting.Task;
            }

            if (_control.Count == 0 && ++_inBurst > burst)
            {
                // The rest is "on the socket": the read completes on the thread pool, like a socket read's.
                _inBurst = 1;
                var later = new TaskCompletionSource<bool>();
                ThreadPool.UnsafeQueueUserWorkItem(s => s.TrySetResult(TakeNext()), later, preferLocal: false);
                return later.Task;
            }
        }

        return TakeNext() ? True : Task.FromResult(false);
    }

    public void Dispose()
    {
        TaskCompletionSource<bool>? wake;
        lock (_gate)
        {
            _ended = true;
            wake = _waiting;
            _waiting = null;
        }

        wake?.TrySetResult(false);
    }

    private bool TakeNext()
    {
        lock (_gate)
        {
            if (_ended)
            {
                return false;
            }

            Current = _control.Count > 0 ? _control.Dequeue() : _feed[_next++];
            return true;
        }
    }
}
