using Marie.Events.Client;
using Marie.Events.LoadTest.Infra;

namespace Marie.Events.LoadTest.Targets;

/// <summary>
/// Our gateway through the client library: one <see cref="EventStreamClient"/> per subscriber (one stream, one
/// subscription, as the stubs open), its channel on the shared connection's handler, events read with
/// <c>await foreach</c> and acknowledged automatically (batched by <see cref="ClientSettings.AckEvery"/>).
/// </summary>
internal sealed class ClientLibrarySubscriberDriver : ISubscriberDriver
{
    public string Name => "client-library";

    public async Task<IAsyncDisposable> SubscribeAsync(
        SubscriberConnection connection,
        SubscribeSpec spec,
        Flow flow,
        bool sendAcks,
        CancellationToken cancellationToken)
    {
        if (spec.DurableName is not null || spec.JobIds is not null)
        {
            // W1D and WG measure the gateway through the stubs only.
            throw new NotSupportedException("durable names and job-id sets are driven through the stubs");
        }

        var client = new EventStreamClient(new EventStreamClientOptions
        {
            Address = connection.Address,
            ApiKey = connection.ApiKey,
            // The connection the workload assigned (the library disposes neither it nor the handler).
            HttpHandlerFactory = () => connection.Handler,
            ConfigureChannel = o =>
            {
                o.DisposeHttpClient = false;
                o.MaxReceiveMessageSize = null;
            },
            AckBatchSize = spec.AckEvery,
            // A lost stream is a failed run here, not something to ride out.
            MaxReconnectAttempts = 1,
        });
        client.ErrorReceived += (_, e) =>
        {
            if (e.Error is EventsLostException)
            {
                flow.OnLost();
            }
        };

        var options = new SubscriptionOptions
        {
            SubscriptionId = spec.SubscriptionId,
            Topics = { spec.Shape.Topic(spec.Topic) },
        };
        if (spec.JobId is not null)
        {
            options.Filter.JobIds.Add(spec.JobId);
        }

        if (spec.FromStart)
        {
            options.LastSequenceNum = 0;
        }

        try
        {
            var subscription = await client.SubscribeAsync(options, cancellationToken);
            return new LibrarySubscription(client, subscription, spec, flow);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>A subscription and its reader loop; disposing ends the loop and closes the client.</summary>
    private sealed class LibrarySubscription : IAsyncDisposable
    {
        private readonly EventStreamClient _client;
        private readonly EventSubscription _subscription;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public LibrarySubscription(
            EventStreamClient client,
            EventSubscription subscription,
            SubscribeSpec spec,
            Flow flow)
        {
            _client = client;
            _subscription = subscription;
            _loop = ReadAsync(spec.Topic, flow, _stop.Token);
        }

        private async Task ReadAsync(int topic, Flow flow, CancellationToken token)
        {
            try
            {
                await foreach (var received in _subscription.ReadAllAsync(token))
                {
                    flow.OnReceived(topic, received.Event.Jobtag);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Disposed.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _loop;
            }
            catch (EventStreamException)
            {
                // The client failed; the round's counts already show it.
            }

            await _client.DisposeAsync();
            _stop.Dispose();
        }
    }
}
