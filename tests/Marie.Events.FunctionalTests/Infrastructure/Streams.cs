using Grpc.Core;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Infrastructure;

/// <summary>Reading a stream until a condition holds, with a timeout (never a fixed delay).</summary>
public static class Streams
{
    /// <summary>Reads messages until one matches, returning it; fails after <paramref name="timeout"/> or when the
    /// stream ends first.</summary>
    public static async Task<T> ReadUntilAsync<T>(
        IAsyncStreamReader<T> stream,
        Func<T, bool> match,
        TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? GatewayFixture.Timeout);
        var seen = new List<T>();
        try
        {
            while (await stream.MoveNext(cts.Token))
            {
                if (match(stream.Current))
                {
                    return stream.Current;
                }

                seen.Add(stream.Current);
            }
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cts.IsCancellationRequested)
        {
            // Timed out: reported below.
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            // Timed out: reported below.
        }

        throw new Xunit.Sdk.XunitException($"No matching message (saw {seen.Count}: {string.Join(", ", seen)})");
    }

    /// <summary>Reads the next message of a kind.</summary>
    public static Task<ServerMessage> NextAsync(
        IAsyncStreamReader<ServerMessage> stream,
        ServerMessage.MessageOneofCase kind,
        TimeSpan? timeout = null) =>
        ReadUntilAsync(stream, m => m.MessageCase == kind, timeout);

    /// <summary>A subscribe message.</summary>
    public static ClientMessage Subscribe(string subscriptionId, params string[] topics) => new()
    {
        Subscribe = new SubscribeRequest { SubscriptionId = subscriptionId, Topics = { topics } },
    };

    /// <summary>An event for <paramref name="topic"/>.</summary>
    public static EventData Event(string topic, string name = "extract.completed") => new()
    {
        ApiKey = topic,
        Event = name,
        Source = "gateway://functional-tests",
        Jobid = Guid.NewGuid().ToString("N"),
        Status = "OK",
    };
}
