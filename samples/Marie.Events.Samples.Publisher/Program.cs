// Publishes events to a topic: one with PublishAsync, then a batch over a flow-controlled PublishStream.
//   dotnet run --project samples/Marie.Events.Samples.Publisher -- tenant-a 1000
// Environment: MARIE_EVENTS_KEY (required: a key with role publisher or admin), MARIE_EVENTS_ADDRESS (default
// http://localhost:51001).
using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Client;
using Marie.Events.Protocol;

var key = Environment.GetEnvironmentVariable("MARIE_EVENTS_KEY");
if (string.IsNullOrEmpty(key))
{
    Console.Error.WriteLine(
        "Set MARIE_EVENTS_KEY to a gateway API key with role publisher "
            + "(the gateway prints development keys on its first run).");
    return 2;
}

var topic = args.Length > 0 ? args[0] : "tenant-a";
var count = args.Length > 1 && int.TryParse(args[1], out var n) && n > 0 ? n : 100;
var address = new Uri(Environment.GetEnvironmentVariable("MARIE_EVENTS_ADDRESS") ?? "http://localhost:51001");

await using var client = new EventStreamClient(new EventStreamClientOptions { Address = address, ApiKey = key });

EventData Event(int i) => new()
{
    ApiKey = topic,
    Event = "extract.completed",
    Jobid = $"job-{i}",
    Source = $"job://extract.completed/job-{i}",
    Status = "OK",
    Payload = new Struct
    {
        Fields =
        {
            ["pages"] = Value.ForNumber(i % 10 + 1),
            ["kind"] = Value.ForString(i % 2 == 0 ? "invoice" : "receipt"),
        },
    },
};

try
{
    var first = await client.PublishAsync(Event(0));
    Console.WriteLine($"Published {first.Id} as {first.Topic}#{first.SequenceNum}");

    var stopwatch = Stopwatch.StartNew();
    var receipts = await client.PublishBatchAsync(Enumerable.Range(1, count - 1).Select(Event));
    stopwatch.Stop();
    if (receipts.Count > 0)
    {
        Console.WriteLine(
            $"Published {receipts.Count} more in {stopwatch.ElapsedMilliseconds} ms: "
                + $"{topic}#{receipts[0].SequenceNum}..{receipts[^1].SequenceNum}");
    }
}
catch (EventStreamException ex)
{
    Console.Error.WriteLine($"Publish failed: {ex.Message}");
    return 1;
}

return 0;
