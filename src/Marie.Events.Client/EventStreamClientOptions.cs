using System.Globalization;
using Grpc.Net.Client;

namespace Marie.Events.Client;

/// <summary>
/// Settings of an <see cref="EventStreamClient"/>: where the gateway is, the API key, and the timings of acks,
/// heartbeats and reconnects. Every default is documented on its property and in <c>docs/client.md</c>.
/// </summary>
public sealed class EventStreamClientOptions
{
    /// <summary>The gateway's default gRPC address.</summary>
    public static readonly Uri DefaultAddress = new("http://localhost:51001");

    /// <summary>
    /// Gateway addresses, tried in this order on every (re)connect: the client walks the list from the top after a
    /// connection it had ends, and moves to the next address after each failed attempt. <c>http://</c> is HTTP/2
    /// without TLS (h2c, the gateway's default), <c>https://</c> uses TLS. Default: one address,
    /// <see cref="DefaultAddress"/>, when the list is left empty.
    /// </summary>
    public IList<Uri> Addresses { get; } = [];

    /// <summary>Shorthand for a single gateway: gets the first of <see cref="Addresses"/>, sets the list to this one
    /// address.</summary>
    public Uri? Address
    {
        get => Addresses.Count > 0 ? Addresses[0] : null;
        set
        {
            Addresses.Clear();
            if (value is not null)
            {
                Addresses.Add(value);
            }
        }
    }

    /// <summary>The API key sent as <c>authorization: Bearer &lt;key&gt;</c> on every call. Required. Subscribing
    /// needs any valid key; publishing needs role <c>publisher</c> or <c>admin</c>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Creates the HTTP handler of each gRPC channel the client opens (one per stream connection, one per address for
    /// publishing): for TLS client certificates, custom trust or a proxy. Default: <c>null</c>, a
    /// <see cref="System.Net.Http.SocketsHttpHandler"/>; on publishing channels it sends HTTP/2 keep-alive pings every
    /// <see cref="ServerHeartbeatInterval"/> while a call is open (a handler from this factory is used as it is).
    /// </summary>
    public Func<HttpMessageHandler>? HttpHandlerFactory { get; set; }

    /// <summary>Adjusts each <see cref="GrpcChannelOptions"/> before its channel is created (message size limits,
    /// credentials). Default: <c>null</c>.</summary>
    public Action<GrpcChannelOptions>? ConfigureChannel { get; set; }

    /// <summary>
    /// How long a new stream connection may take to hear anything from the gateway once the client has something to
    /// subscribe; longer counts as a failed attempt. Default: 10 s.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long <see cref="EventStreamClient.SubscribeAsync(SubscriptionOptions, CancellationToken)"/> waits
    /// for the gateway's confirmation (through reconnects) before it fails. <see cref="Timeout.InfiniteTimeSpan"/>:
    /// wait until cancelled. Default: 30 s.</summary>
    public TimeSpan SubscribeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Interval between the <c>ClientHeartbeat</c>s the client sends on its stream (carrying each
    /// subscription's resume point, for information). Default: 15 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The interval at which the gateway sends <c>ServerHeartbeat</c>s: its
    /// <c>toast.grpc.broker.heartbeat_interval_s</c>, which the wire does not carry. A stream on which nothing arrives
    /// for two of these intervals is taken as dead and replaced. Set it to the gateway's value;
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns the check off. Default: 15 s (the gateway's default).
    /// </summary>
    public TimeSpan ServerHeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Delay before the first reconnect attempt after a connection ends; each further failed attempt doubles
    /// it, up to <see cref="ReconnectMaxDelay"/>. Default: 100 ms.</summary>
    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest delay between reconnect attempts. Default: 30 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Random spread of each reconnect delay, as a fraction: a delay <c>d</c> becomes uniform in
    /// <c>[d × (1 − j), d × (1 + j)]</c> (then capped at <see cref="ReconnectMaxDelay"/>), so that many clients do
    /// not reconnect in step. 0 to 1. Default: 0.2.</summary>
    public double ReconnectJitter { get; set; } = 0.2;

    /// <summary>Consecutive failed connection attempts after which the client gives up and fails every subscription
    /// (<see cref="EventStreamException"/>). <c>null</c>: never give up. Default: <c>null</c>.</summary>
    public int? MaxReconnectAttempts { get; set; }

    /// <summary>Longest time an acknowledgement waits in the client's batch before it is sent. Default: 20
    /// ms.</summary>
    public TimeSpan AckFlushInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Acknowledged events that make the client send its batch at once, without waiting for
    /// <see cref="AckFlushInterval"/>. Keep it well below the gateway's <c>max_in_flight</c> (default 100): at the cap
    /// the gateway sends nothing more until acks arrive. Default: 50.</summary>
    public int AckBatchSize { get; set; } = 50;

    /// <summary>Publish requests a bulk publish keeps outstanding (sent, not yet answered) on its
    /// <c>PublishStream</c>; the next request waits for an answer. Default: 256.</summary>
    public int PublishWindow { get; set; } = 256;

    /// <summary>Deadline of one <see cref="EventStreamClient.PublishAsync"/> attempt. Default: 30 s.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts of a publish (single or bulk) that fails with a transient status (<c>UNAVAILABLE</c>,
    /// a broken connection) before it throws, each on the next address after a backoff delay. Default: 3.</summary>
    public int MaxPublishAttempts { get; set; } = 3;

    /// <summary>Where the client logs; <c>null</c>: no logging. Default: <c>null</c> (the DI registration passes the
    /// container's factory).</summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The clock of every time-driven part (ack flush, heartbeats, dead-gateway detection, backoff).
    /// Default: <c>null</c>, <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Checks every value, throwing an <see cref="ArgumentException"/> that names the first bad
    /// property.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        foreach (var problem in Problems())
        {
            throw new ArgumentException(problem);
        }
    }

    /// <summary>Every problem of the current values, one message each (empty when all are valid).</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(ApiKey))
        {
            problems.Add("EventStreamClientOptions.ApiKey is required");
        }

        for (var i = 0; i < Addresses.Count; i++)
        {
            var address = Addresses[i];
            if (address is null
                || !address.IsAbsoluteUri
                || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
            {
                problems.Add(
                    Invariant($"EventStreamClientOptions.Addresses[{i}] must be an absolute http:// or https:// ")
                    + Invariant($"address (got '{address}')"));
            }
        }

        Positive(problems, nameof(ConnectTimeout), ConnectTimeout, allowInfinite: false);
        Positive(problems, nameof(SubscribeTimeout), SubscribeTimeout, allowInfinite: true);
        Positive(problems, nameof(HeartbeatInterval), HeartbeatInterval, allowInfinite: true);
        Positive(problems, nameof(ServerHeartbeatInterval), ServerHeartbeatInterval, allowInfinite: true);
        Positive(problems, nameof(ReconnectInitialDelay), ReconnectInitialDelay, allowInfinite: false);
        Positive(problems, nameof(ReconnectMaxDelay), ReconnectMaxDelay, allowInfinite: false);
        Positive(problems, nameof(AckFlushInterval), AckFlushInterval, allowInfinite: false);
        Positive(problems, nameof(PublishTimeout), PublishTimeout, allowInfinite: false);
        if (ReconnectMaxDelay < ReconnectInitialDelay)
        {
            problems.Add(
                "EventStreamClientOptions.ReconnectMaxDelay must be at least ReconnectInitialDelay "
                + Invariant($"(got {ReconnectMaxDelay} < {ReconnectInitialDelay})"));
        }

        if (double.IsNaN(ReconnectJitter) || ReconnectJitter < 0 || ReconnectJitter > 1)
        {
            problems.Add(
                Invariant($"EventStreamClientOptions.ReconnectJitter must be between 0 and 1 (got {ReconnectJitter})"));
        }

        AtLeastOne(problems, nameof(MaxReconnectAttempts), MaxReconnectAttempts ?? 1);
        AtLeastOne(problems, nameof(AckBatchSize), AckBatchSize);
        AtLeastOne(problems, nameof(PublishWindow), PublishWindow);
        AtLeastOne(problems, nameof(MaxPublishAttempts), MaxPublishAttempts);
        return problems;
    }

    /// <summary>The addresses to use: <see cref="Addresses"/>, or <see cref="DefaultAddress"/> when empty.</summary>
    internal IReadOnlyList<Uri> EffectiveAddresses() => Addresses.Count > 0 ? [.. Addresses] : [DefaultAddress];

    private static void Positive(List<string> problems, string name, TimeSpan value, bool allowInfinite)
    {
        if (value == Timeout.InfiniteTimeSpan ? !allowInfinite : value <= TimeSpan.Zero)
        {
            problems.Add(
                Invariant($"EventStreamClientOptions.{name} must be greater than zero")
                + Invariant($"{(allowInfinite ? " or Timeout.InfiniteTimeSpan" : "")} (got {value})"));
        }
    }

    private static void AtLeastOne(List<string> problems, string name, int value)
    {
        if (value < 1)
        {
            problems.Add(Invariant($"EventStreamClientOptions.{name} must be at least 1 (got {value})"));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
