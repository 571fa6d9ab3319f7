using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.Client.Internal;
using Marie.Events.Protocol;

namespace Marie.Events.Client;

/// <summary>Publishing (<c>EventPublisherService</c>; the key needs role publisher or admin).</summary>
public sealed partial class EventStreamClient
{
    /// <summary>
    /// Publishes one event and returns where the gateway filed it. <c>event.api_key</c> is the topic (required). An
    /// event without an id is given one by the client (32 hex characters, on a copy), so that a retried publish keeps
    /// its id. A transient failure (<c>UNAVAILABLE</c>) is retried on the next address after a backoff delay, up to
    /// <see cref="EventStreamClientOptions.MaxPublishAttempts"/> attempts; a retry after a lost answer may file the
    /// event twice (same id).
    /// </summary>
    /// <exception cref="ArgumentException">The event has no topic.</exception>
    /// <exception cref="EventStreamException">The gateway refused it (<see cref="EventStreamException.Status"/>), or
    /// every attempt failed. <see cref="EventStreamAuthenticationException"/> for a key without the role.</exception>
    public async Task<PublishResponse> PublishAsync(EventData evt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var request = new PublishRequest { Event = BulkState.WithId(evt) };
        for (var attempt = 0; ; attempt++)
        {
            var address = PublishAddress();
            try
            {
                var client = new EventPublisherService.EventPublisherServiceClient(PublishChannel(address));
                var response = await client.PublishAsync(
                    request,
                    ClientTracing.WithTraceContext(ChannelFactory.AuthHeaders(_options)),
                    deadline: DateTime.UtcNow + _options.PublishTimeout,
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                Counters.Published(1);
                return response;
            }
            catch (RpcException ex) when (IsTransient(ex)
                && attempt + 1 < _options.MaxPublishAttempts
                && !cancellationToken.IsCancellationRequested)
            {
                await BackOffPublishAsync(address, ex, attempt, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw EventStreamException.FromRpc(ex, "publish");
            }
        }
    }

    /// <summary>
    /// Publishes many events over one <c>PublishStream</c> call, keeping at most
    /// <see cref="EventStreamClientOptions.PublishWindow"/> requests outstanding, and returns their receipts in order.
    /// See <see cref="PublishStreamAsync"/>.
    /// </summary>
    /// <exception cref="PublishException">A failure part-way; <see cref="PublishException.Receipts"/> lists what was
    /// filed.</exception>
    public async Task<IReadOnlyList<PublishResponse>> PublishBatchAsync(
        IEnumerable<EventData> events,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var receipts = new List<PublishResponse>();
        await PublishCoreAsync(ToAsync(events), r =>
        {
            receipts.Add(r);
            return ValueTask.CompletedTask;
        }, cancellationToken).ConfigureAwait(false);
        return receipts;
    }

    /// <summary>
    /// Publishes events as <paramref name="events"/> yields them, over one <c>PublishStream</c> call, and yields each
    /// receipt in order. Flow control: at most <see cref="EventStreamClientOptions.PublishWindow"/> requests are sent
    /// and not yet answered; the next one waits for an answer (and HTTP/2 flow control bounds the bytes). Events
    /// without an id are given one (on a copy). When the stream breaks (<c>UNAVAILABLE</c>), the client opens a new
    /// one (next address, backoff) and sends again the requests that had no answer: those may be filed twice (same
    /// id). After <see cref="EventStreamClientOptions.MaxPublishAttempts"/> failed attempts in a row, or a refused
    /// request (<c>INVALID_ARGUMENT</c> names its index in the call), it throws a <see cref="PublishException"/>.
    /// </summary>
    /// <exception cref="PublishException">See above.</exception>
    public async IAsyncEnumerable<PublishResponse> PublishStreamAsync(
        IAsyncEnumerable<EventData> events,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        // Receipts wait here at most one window's worth: the core does not read more answers than it sent requests.
        var receipts = Channel.CreateBounded<PublishResponse>(_options.PublishWindow);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var core = Task.Run(async () =>
        {
            try
            {
                await PublishCoreAsync(
                    events,
                    r => receipts.Writer.WriteAsync(r, stop.Token),
                    stop.Token).ConfigureAwait(false);
                receipts.Writer.TryComplete();
            }
#pragma warning disable CA1031 // Handed to the reader below.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                receipts.Writer.TryComplete(ex);
            }
        }, CancellationToken.None);

        try
        {
            await foreach (var receipt in receipts.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return receipt;
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await core.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task PublishCoreAsync(
        IAsyncEnumerable<EventData> events,
        Func<PublishResponse, ValueTask> onReceipt,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var source = events.GetAsyncEnumerator(cancellationToken);
        await using var _ = source.ConfigureAwait(false);
        var state = new BulkState(source);
        var failures = 0;
        while (true)
        {
            var address = PublishAddress();
            var answeredBefore = state.Answered;
            try
            {
                await PublishAttemptAsync(address, state, onReceipt, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
            {
                failures = state.Answered > answeredBefore ? 1 : failures + 1;
                if (!IsTransient(ex) || failures >= _options.MaxPublishAttempts)
                {
                    throw new PublishException(
                        $"Bulk publish failed after {state.Answered} events: {ex.StatusCode}: {ex.Status.Detail}",
                        state.Receipts,
                        EventStreamException.FromRpc(ex, "publish stream"));
                }

                await BackOffPublishAsync(address, ex, failures - 1, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>One PublishStream call: resends the unanswered requests, then pulls new events while the window has
    /// room; reads answers in order, each freeing one place.</summary>
    private async Task PublishAttemptAsync(
        Uri address,
        BulkState state,
        Func<PublishResponse, ValueTask> onReceipt,
        CancellationToken cancellationToken)
    {
        var client = new EventPublisherService.EventPublisherServiceClient(PublishChannel(address));
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var call = client.PublishStream(
            ClientTracing.WithTraceContext(ChannelFactory.AuthHeaders(_options)),
            cancellationToken: attempt.Token);
        using var window = new SemaphoreSlim(_options.PublishWindow);
        var writer = WriteRequestsAsync(call.RequestStream, state, window, attempt.Token);
        try
        {
            while (await call.ResponseStream.MoveNext(attempt.Token).ConfigureAwait(false))
            {
                var receipt = call.ResponseStream.Current;
                state.Answer(receipt);
                window.Release();
                Counters.Published(1);
                await onReceipt(receipt).ConfigureAwait(false);
            }

            await writer.ConfigureAwait(false);
            if (state.UnansweredCount > 0)
            {
                throw new RpcException(new Status(
                    StatusCode.Unavailable,
                    "the gateway ended the publish stream before answering every request"));
            }
        }
        finally
        {
            await attempt.CancelAsync().ConfigureAwait(false);
            await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static async Task WriteRequestsAsync(
        IClientStreamWriter<PublishRequest> requests,
        BulkState state,
        SemaphoreSlim window,
        CancellationToken cancellationToken)
    {
        foreach (var request in state.Unanswered())
        {
            await window.WaitAsync(cancellationToken).ConfigureAwait(false);
            await requests.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        }

        while (true)
        {
            await window.WaitAsync(cancellationToken).ConfigureAwait(false);
            var next = await state.NextAsync(cancellationToken).ConfigureAwait(false);
            if (next is null)
            {
                break;
            }

            await requests.WriteAsync(next, cancellationToken).ConfigureAwait(false);
        }

        await requests.CompleteAsync().ConfigureAwait(false);
    }

    private async Task BackOffPublishAsync(
        Uri address,
        RpcException error,
        int attempt,
        CancellationToken cancellationToken)
    {
        // The next attempt goes to the next address.
        Interlocked.Increment(ref _publishAddress);
        var delay = _backoff.Delay(attempt);
        ClientLog.PublishRetry(
            Logger,
            address,
            error.StatusCode.ToString(),
            (long)delay.TotalMilliseconds,
            attempt + 2);
        await Task.Delay(delay, Time, cancellationToken).ConfigureAwait(false);
    }

    private static bool IsTransient(RpcException error) => error.StatusCode == StatusCode.Unavailable;

    private Uri PublishAddress() =>
        _addresses[(int)((uint)Volatile.Read(ref _publishAddress) % (uint)_addresses.Count)];

    private GrpcChannel PublishChannel(Uri address) =>
        _publishChannels.GetOrAdd(address, a => ChannelFactory.Create(a, _options, keepAlive: true));

    private static async IAsyncEnumerable<EventData> ToAsync(IEnumerable<EventData> events)
    {
        foreach (var evt in events)
        {
            yield return evt;
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }
}
