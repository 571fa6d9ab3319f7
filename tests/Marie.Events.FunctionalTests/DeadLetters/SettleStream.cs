using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using static Marie.Events.Protocol.ServerMessage;

namespace Marie.Events.FunctionalTests.DeadLetters;

/// <summary>One <c>StreamEvents</c> call of a test key, with the settle verbs as one-liners.</summary>
internal sealed class SettleStream : IDisposable
{
    private readonly AsyncDuplexStreamingCall<ClientMessage, ServerMessage> _call;
    private readonly Lock _gate = new();
    private readonly List<ServerMessage> _unread = [];
    private readonly Task _pump;
    private TaskCompletionSource _arrived = NewSignal();
    private bool _ended;
    private int _barriers;

    private SettleStream(AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call)
    {
        _call = call;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Opens a stream with <paramref name="key"/> (no deadline: settle tests outlive one
    /// timeout).</summary>
    public static SettleStream Open(GatewayFixture gateway, string key) =>
        new(gateway.Streams.StreamEvents(new CallOptions(
            headers: new Metadata { { "authorization", $"Bearer {key}" } })));

    /// <summary>Subscribes and returns the confirm.</summary>
    public async Task<SubscriptionConfirm> SubscribeAsync(string id, string topic,
        Action<SubscribeRequest>? configure = null)
    {
        var request = new SubscribeRequest { SubscriptionId = id, Topics = { topic } };
        configure?.Invoke(request);
        await _call.RequestStream.WriteAsync(new ClientMessage { Subscribe = request });
        var confirm = await TakeAsync(
            m => m.SubscriptionConfirm?.SubscriptionId == id
                || (m.MessageCase == MessageOneofCase.Error && m.Error.SubscriptionId == id));
        return confirm.SubscriptionConfirm
            ?? throw new Xunit.Sdk.XunitException($"subscribe refused: {confirm.Error}");
    }

    public Task WriteAsync(ClientMessage message) => _call.RequestStream.WriteAsync(message);

    public Task NackAsync(string subscription, string ackId, long delayMs = 0, string reason = "") =>
        WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = subscription,
                Nack = new Nack { AckIds = { ackId }, DelayMs = delayMs, Reason = reason },
            },
        });

    public Task TerminateAsync(string subscription, string ackId, string reason = "") =>
        WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = subscription,
                Terminate = new Terminate { AckIds = { ackId }, Reason = reason },
            },
        });

    public Task ExtendAsync(string subscription, string ackId, long extendMs) =>
        WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = subscription,
                Extend = new Extend { AckIds = { ackId }, ExtendMs = extendMs },
            },
        });

    public Task AckAsync(string subscription, string ackId) =>
        WriteAsync(new ClientMessage
        {
            Ack = new AckMessage
            {
                SubscriptionId = subscription,
                Individual = new IndividualAck { AckIds = { ackId } },
            },
        });

    /// <summary>The next event (of <paramref name="subscription"/> when given); messages of other kinds stay
    /// unread.</summary>
    public async Task<EventEnvelope> NextEventAsync(string? subscription = null, TimeSpan? timeout = null) =>
        (await TakeAsync(
            m => m.MessageCase == MessageOneofCase.Event
                && (subscription is null || m.Event.SubscriptionId == subscription),
            timeout)).Event;

    /// <summary>The next error message; messages of other kinds stay unread.</summary>
    public async Task<ErrorMessage> NextErrorAsync() =>
        (await TakeAsync(m => m.MessageCase == MessageOneofCase.Error)).Error;

    /// <summary>Removes and returns the first unread message that matches, waiting for one up to
    /// <paramref name="timeout"/>.</summary>
    public async Task<ServerMessage> TakeAsync(Func<ServerMessage, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? GatewayFixture.Timeout);
        while (true)
        {
            Task arrived;
            lock (_gate)
            {
                var index = _unread.FindIndex(m => match(m));
                if (index >= 0)
                {
                    var found = _unread[index];
                    _unread.RemoveAt(index);
                    return found;
                }

                if (_ended)
                {
                    throw new Xunit.Sdk.XunitException($"The stream ended; unread: {string.Join(", ", _unread)}");
                }

                arrived = _arrived.Task;
            }

            try
            {
                await arrived.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                lock (_gate)
                {
                    throw new Xunit.Sdk.XunitException(
                        $"No matching message; unread: {string.Join(", ", _unread)}");
                }
            }
        }
    }

    /// <summary>Returns once the gateway has handled every message written before: the stream handles messages in
    /// order, so a later subscribe's confirm means the earlier ones were done. The barrier subscription's topic
    /// gets no events.</summary>
    public async Task BarrierAsync()
    {
        var id = $"barrier-{Interlocked.Increment(ref _barriers)}";
        await SubscribeAsync(id, "barrier-" + Guid.NewGuid().ToString("N"));
        await WriteAsync(new ClientMessage { Unsubscribe = new UnsubscribeRequest { SubscriptionId = id } });
    }

    public void Dispose()
    {
        _call.Dispose();
        // The pump ends with the call; its exception (cancelled) is expected.
        _pump.ContinueWith(t => t.Exception, TaskScheduler.Default).Wait(GatewayFixture.Timeout);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task PumpAsync()
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(CancellationToken.None))
            {
                Signal(_call.ResponseStream.Current, ended: false);
            }
        }
        finally
        {
            Signal(null, ended: true);
        }
    }

    private void Signal(ServerMessage? message, bool ended)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (message is not null)
            {
                _unread.Add(message);
            }

            _ended |= ended;
            signal = _arrived;
            _arrived = NewSignal();
        }

        signal.SetResult();
    }
}
