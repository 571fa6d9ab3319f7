// Subscribes to topics and prints every event until Ctrl+C.
//   dotnet run --project samples/Marie.Events.Samples.Subscriber -- tenant-a [more topics...]
// Environment: MARIE_EVENTS_KEY (required: any valid key), MARIE_EVENTS_ADDRESS (default http://localhost:51001;
// several addresses separated by commas are tried in order on reconnect).
using Marie.Events.Client;

var key = Environment.GetEnvironmentVariable("MARIE_EVENTS_KEY");
if (string.IsNullOrEmpty(key))
{
    Console.Error.WriteLine(
        "Set MARIE_EVENTS_KEY to a gateway API key (the gateway prints development keys on its first run).");
    return 2;
}

var options = new EventStreamClientOptions { ApiKey = key };
var addresses = Environment.GetEnvironmentVariable("MARIE_EVENTS_ADDRESS") ?? "http://localhost:51001";
foreach (var address in addresses.Split(','))
{
    options.Addresses.Add(new Uri(address.Trim()));
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

await using var client = new EventStreamClient(options);
client.StateChanged += (_, e) => Console.Error.WriteLine($"[stream] {e.State} {e.Address} {e.Error?.Message}");
client.ErrorReceived += (_, e) => Console.Error.WriteLine($"[error] {e.Error.GetType().Name}: {e.Error.Message}");
client.Backpressure += (_, e) => Console.Error.WriteLine(
    $"[backpressure] {e.SubscriptionId}: {e.PendingEvents} pending, "
        + $"slow down {e.RecommendedDelay.TotalMilliseconds} ms");

var subscription = new SubscriptionOptions();
foreach (var topic in args.Length > 0 ? args : ["*"])
{
    subscription.Topics.Add(topic);
}

try
{
    await using var events = await client.SubscribeAsync(subscription, stop.Token);
    Console.Error.WriteLine($"Subscribed to {string.Join(", ", events.Topics)} as {events.Id}; Ctrl+C to stop.");
    await foreach (var received in events.WithCancellation(stop.Token))
    {
        // Processing happens here; the event is acknowledged when the loop asks for the next one.
        Console.WriteLine(
            $"{received.Topic}#{received.SequenceNum} {received.Event.Event} job={received.Event.Jobid} "
                + $"source={received.Event.Source} payload={received.Event.Payload}");
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    // Ctrl+C.
}
catch (EventStreamException ex)
{
    Console.Error.WriteLine($"Stopped: {ex.Message}");
    return 1;
}

var stats = client.Statistics;
Console.Error.WriteLine(
    $"Received {stats.EventsDelivered} events ({stats.DuplicatesDropped} duplicates dropped, "
        + $"{stats.Disconnections} reconnects).");
return 0;
