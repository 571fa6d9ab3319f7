using Marie.Events.Client;

namespace Marie.Events.Cli;

/// <summary>
/// The <see cref="EventStreamClient"/> that <c>subscribe</c> and <c>publish</c> use, set for a command line: a person
/// waits on it, so an unreachable gateway must be told in seconds, not retried for ever (docs/cli.md).
/// </summary>
internal static class CliClient
{
    /// <summary>Connection attempts in a row that may fail before <c>subscribe</c> gives up: 3 s of backoff between
    /// them (0.2 + 0.4 + 0.8 + 1.6 s at the start, 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s after a working stream ended; each
    /// ±20 %), plus the attempts themselves (instant when the connection is refused).</summary>
    public const int MaxReconnectAttempts = 5;

    /// <summary>A TCP connect, and a new stream's first answer, may take this long (the OS's own connect timeout is
    /// minutes).</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary><c>subscribe</c> waits this long for the gateway's first confirmation, through reconnects: two
    /// connect timeouts, so a gateway whose connects hang is reported within it.</summary>
    public static readonly TimeSpan SubscribeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Longest delay between reconnect attempts: a gateway that restarts is found again within 2 s of its
    /// coming back (the client's own default, 30 s, suits services, not a person watching).</summary>
    private static readonly TimeSpan ReconnectMaxDelay = TimeSpan.FromSeconds(2);

    /// <summary>HTTP/2 pings on an open call after this much silence, so a publish on a dead connection fails (and is
    /// retried) instead of waiting for its deadline: the client's own default (its server heartbeat
    /// interval).</summary>
    private static readonly TimeSpan KeepAlivePing = TimeSpan.FromSeconds(15);

    public static EventStreamClient Create(Uri address, string apiKey) => new(new EventStreamClientOptions
    {
        Address = address,
        ApiKey = apiKey,
        ConnectTimeout = ConnectTimeout,
        SubscribeTimeout = SubscribeTimeout,
        MaxReconnectAttempts = MaxReconnectAttempts,
        ReconnectMaxDelay = ReconnectMaxDelay,
        PublishTimeout = GatewayConnection.UnaryDeadline,
        HttpHandlerFactory = () => new SocketsHttpHandler
        {
            ConnectTimeout = ConnectTimeout,
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = KeepAlivePing,
            KeepAlivePingTimeout = KeepAlivePing,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        },
    });
}
