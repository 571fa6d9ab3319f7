using Marie.Events.Broker.Limits;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Configuration;

/// <summary>
/// <c>gateway.limits.*</c>: bounds on what one client may ask. The broker enforces most of them
/// (<see cref="BrokerLimits"/>, whose defaults these are); the gateway the streams per key and the message size.
/// Every default is documented in docs/security.md.
/// </summary>
internal sealed class LimitsOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "gateway:limits";

    /// <summary>Dotted prefix of the keys, for messages.</summary>
    public const string Prefix = "gateway.limits.";

    /// <summary>4 MiB: gRPC's own default receive limit.</summary>
    public const int DefaultMaxMessageBytes = 4 * 1024 * 1024;

    private static readonly BrokerLimits Defaults = new();

    /// <summary>Open streams (StreamEvents and PublishStream together) per key.</summary>
    [ConfigurationKeyName("max_streams_per_key")]
    public int MaxStreamsPerKey { get; set; } = 100;

    /// <summary>Largest message a client may send, bytes (a larger one ends the call with
    /// RESOURCE_EXHAUSTED).</summary>
    [ConfigurationKeyName("max_message_bytes")]
    public int MaxMessageBytes { get; set; } = DefaultMaxMessageBytes;

    [ConfigurationKeyName(LimitNames.MaxSubscriptionsPerStream)]
    public int MaxSubscriptionsPerStream { get; set; } = Defaults.MaxSubscriptionsPerStream;

    [ConfigurationKeyName(LimitNames.MaxTopicsPerSubscription)]
    public int MaxTopicsPerSubscription { get; set; } = Defaults.MaxTopicsPerSubscription;

    [ConfigurationKeyName(LimitNames.MaxFilterEntries)]
    public int MaxFilterEntries { get; set; } = Defaults.MaxFilterEntries;

    [ConfigurationKeyName(LimitNames.MaxIdLength)]
    public int MaxIdLength { get; set; } = Defaults.MaxIdLength;

    [ConfigurationKeyName(LimitNames.MaxStringLength)]
    public int MaxStringLength { get; set; } = Defaults.MaxStringLength;

    [ConfigurationKeyName(LimitNames.ClientMessagesPerSecond)]
    public int ClientMessagesPerSecond { get; set; } = Defaults.ClientMessagesPerSecond;

    [ConfigurationKeyName(LimitNames.ClientMessageBurst)]
    public int ClientMessageBurst { get; set; } = Defaults.ClientMessageBurst;

    [ConfigurationKeyName(LimitNames.MaxReplayCount)]
    public int MaxReplayCount { get; set; } = Defaults.MaxReplayCount;

    [ConfigurationKeyName(LimitNames.MaxReplayEvents)]
    public int MaxReplayEvents { get; set; } = Defaults.MaxReplayEvents;

    [ConfigurationKeyName(LimitNames.MaxTopics)]
    public int MaxTopics { get; set; } = Defaults.MaxTopics;

    [ConfigurationKeyName(LimitNames.MaxAckIdsPerMessage)]
    public int MaxAckIdsPerMessage { get; set; } = Defaults.MaxAckIdsPerMessage;

    /// <summary>The broker's share of the limits.</summary>
    public BrokerLimits ToBrokerLimits() => new()
    {
        MaxSubscriptionsPerStream = MaxSubscriptionsPerStream,
        MaxTopicsPerSubscription = MaxTopicsPerSubscription,
        MaxFilterEntries = MaxFilterEntries,
        MaxIdLength = MaxIdLength,
        MaxStringLength = MaxStringLength,
        ClientMessagesPerSecond = ClientMessagesPerSecond,
        ClientMessageBurst = ClientMessageBurst,
        MaxReplayCount = MaxReplayCount,
        MaxReplayEvents = MaxReplayEvents,
        MaxTopics = MaxTopics,
        MaxAckIdsPerMessage = MaxAckIdsPerMessage,
    };
}

/// <summary>Validates <c>gateway.limits.*</c>: every limit at least 1.</summary>
internal sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    /// <summary>Smallest sensible message limit: a subscribe with a few topics and filters fits in 1 KiB.</summary>
    private const int MinMessageBytes = 1024;

    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        var errors = new List<string>();
        var named = options.ToBrokerLimits().Named().Append(("max_streams_per_key", options.MaxStreamsPerKey));
        foreach (var (key, value) in named)
        {
            if (value < 1)
            {
                errors.Add(
                    GatewayOptionsValidator.Invariant($"{LimitsOptions.Prefix}{key} must be at least 1 (got {value})"));
            }
        }

        if (options.MaxMessageBytes < MinMessageBytes)
        {
            var got = options.MaxMessageBytes;
            errors.Add(GatewayOptionsValidator.Invariant(
                $"{LimitsOptions.Prefix}max_message_bytes must be at least {MinMessageBytes} (got {got})"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
