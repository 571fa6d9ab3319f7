using System.Diagnostics;
using Grpc.Core;
using Marie.Events.LoadTest.Infra;
using Marie.Events.Protocol;

namespace Marie.Events.LoadTest.Targets;

/// <summary>One StreamEvents call with one subscription: counts events, acks cumulatively every
/// <see cref="ClientSettings.AckEvery"/> events (when the target takes acks).</summary>
internal sealed class StubSubscription : IAsyncDisposable
{
    /// <summary>How long a subscription may take to be confirmed (10,000 opening at once on a loaded
    /// machine).</summary>
    private static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(60);

    private readonly AsyncDuplexStreamingCall<ClientMessage, ServerMessage> _call;
    private readonly CancellationTokenSource _stop;
    private readonly TaskCompletionSource _confirmed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;

    private StubSubscription(AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call, CancellationTokenSource stop)
    {
        _call = call;
        _stop = stop;
    }

    public static async Task<StubSubscription> StartAsync(
        EventStreamService.EventStreamServiceClient client,
        Metadata headers,
        SubscribeSpec spec,
        Flow flow,
        bool sendAcks,
        CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var call = client.StreamEvents(headers, cancellationToken: stop.Token);
        var subscription = new StubSubscription(call, stop);
        var request = new SubscribeRequest { SubscriptionId = spec.SubscriptionId };
        request.Topics.Add(spec.Shape.Topic(spec.Topic));
        if (spec.JobId is not null || spec.JobIds is not null)
        {
            request.Filter = new FilterConfig();
            if (spec.JobId is not null)
            {
                request.Filter.Jobids.Add(spec.JobId);
            }

            request.Filter.Jobids.AddRange(spec.JobIds ?? []);
        }

        request.DurableName = spec.DurableName ?? "";
        request.Group = spec.Group ?? "";

        if (spec.FromStart)
        {
            request.LastSequenceNum = 0;
        }

        try
        {
            await call.RequestStream.WriteAsync(new ClientMessage { Subscribe = request }, stop.Token);
            subscription._loop = subscription.ReadAsync(spec, flow, sendAcks, stop.Token);
            await subscription._confirmed.Task.WaitAsync(ConfirmTimeout, cancellationToken);
            return subscription;
        }
        catch
        {
            await subscription.DisposeAsync();
            throw;
        }
    }

    private async Task ReadAsync(SubscribeSpec spec, Flow flow, bool sendAcks, CancellationToken token)
    {
        var topic = spec.Shape.Topic(spec.Topic);
        var unacked = 0;
        try
        {
            while (await _call.ResponseStream.MoveNext(token))
            {
                var message = _call.ResponseStream.Current;
                switch (message.MessageCase)
                {
                    case ServerMessage.MessageOneofCase.Event:
                        var envelope = message.Event;
                        flow.OnReceived(spec.Topic, envelope.Event.Jobtag);
                        flow.Tally?.OnDelivered(envelope.SequenceNum);
                        if (sendAcks && ++unacked >= spec.AckEvery)
                        {
                            unacked = 0;
                            await _call.RequestStream.WriteAsync(new ClientMessage
                            {
                                Ack = new AckMessage
                                {
                                    SubscriptionId = spec.SubscriptionId,
                                    Cumulative = new CumulativeAck
                                    {
                                        Topic = topic,
                                        UpToSequenceNum = envelope.SequenceNum,
                                    },
                                },
                            }, token);
                        }

                        break;
                    case ServerMessage.MessageOneofCase.SubscriptionConfirm:
                        var confirm = message.SubscriptionConfirm;
                        if (confirm.DurableName != (spec.DurableName ?? "") || confirm.Group != (spec.Group ?? ""))
                        {
                            // A gateway that does not know the fields (an older --baseline-gateway) would measure a
                            // plain subscription under the durable's name.
                            _confirmed.TrySetException(new InvalidOperationException(
                                $"subscription {spec.SubscriptionId}: confirmed as durable '{confirm.DurableName}' "
                                + $"group '{confirm.Group}', asked '{spec.DurableName}' '{spec.Group}'"));
                            break;
                        }

                        flow.Tally?.OnConfirmed(confirm.CurrentHead);
                        _confirmed.TrySetResult();
                        break;
                    case ServerMessage.MessageOneofCase.Error when message.Error.Code == ErrorCode.ErrorEventsLost:
                        flow.OnLost();
                        break;
                    case ServerMessage.MessageOneofCase.Error:
                        _confirmed.TrySetException(new InvalidOperationException(
                            $"subscription {spec.SubscriptionId}: {message.Error.Code} {message.Error.Message}"));
                        break;
                }
            }

            _confirmed.TrySetException(
                new InvalidOperationException($"subscription {spec.SubscriptionId}: the server ended the stream"));
        }
        catch (Exception ex) when (token.IsCancellationRequested
            && ex is RpcException or OperationCanceledException or IOException)
        {
            // Disposed: the call was cancelled.
        }
        catch (Exception ex)
        {
            _confirmed.TrySetException(ex);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (Exception ex)
            when (ex is RpcException or OperationCanceledException or IOException or InvalidOperationException)
        {
            // Reported through the confirm, or the end of a cancelled call.
        }

        _call.Dispose();
        _stop.Dispose();
    }
}

/// <summary>A PublishStream call: requests are written back to back, responses counted by a reader loop.</summary>
internal sealed class StubPublisher : IBenchPublisher
{
    private readonly AsyncDuplexStreamingCall<PublishRequest, PublishResponse> _call;
    private readonly CancellationTokenSource _stop;
    private readonly SemaphoreSlim _slots = new(ClientSettings.PublishWindow, ClientSettings.PublishWindow);

    /// <summary>When each unanswered publish was written, oldest first (the gateway answers in order).</summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<long> _written = new();
    private Task _responses = Task.CompletedTask;
    private long _answered;
    private LatencyHistogram? _ackLatency;

    /// <summary>Publishes answered so far.</summary>
    public long Answered => Interlocked.Read(ref _answered);

    /// <summary>Where each answer's latency (write to answer) is recorded; null: not recorded.</summary>
    public LatencyHistogram? AckLatency
    {
        get => Volatile.Read(ref _ackLatency);
        set => Volatile.Write(ref _ackLatency, value);
    }

    private StubPublisher(AsyncDuplexStreamingCall<PublishRequest, PublishResponse> call, CancellationTokenSource stop)
    {
        _call = call;
        _stop = stop;
    }

    public static Task<StubPublisher> OpenAsync(
        EventPublisherService.EventPublisherServiceClient client,
        Metadata headers,
        CancellationToken cancellationToken)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var publisher = new StubPublisher(client.PublishStream(headers, cancellationToken: stop.Token), stop);
        publisher._responses = publisher.ReadResponsesAsync(stop.Token);
        return Task.FromResult(publisher);
    }

    private async Task ReadResponsesAsync(CancellationToken token)
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(token))
            {
                if (_written.TryDequeue(out var written) && AckLatency is { } latency)
                {
                    latency.Record(Stopwatch.GetElapsedTime(written).TotalMicroseconds);
                }

                Interlocked.Increment(ref _answered);
                _slots.Release();
            }
        }
        catch (Exception ex) when (token.IsCancellationRequested
            && ex is RpcException or OperationCanceledException or IOException)
        {
            // Disposed.
        }
    }

    public async ValueTask PublishAsync(EventData evt, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        if (_responses.IsCompleted)
        {
            await _responses;
            throw new InvalidOperationException("the publish stream ended");
        }

        _written.Enqueue(Stopwatch.GetTimestamp());
        await _call.RequestStream.WriteAsync(new PublishRequest { Event = evt }, cancellationToken);
    }

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (_slots.CurrentCount < ClientSettings.PublishWindow)
        {
            if (_responses.IsCompleted)
            {
                await _responses;
                throw new InvalidOperationException("the publish stream ended before every publish was answered");
            }

            await Task.Delay(1, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _responses;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException)
        {
            // The end of a cancelled call.
        }

        _call.Dispose();
        _stop.Dispose();
        _slots.Dispose();
    }
}
