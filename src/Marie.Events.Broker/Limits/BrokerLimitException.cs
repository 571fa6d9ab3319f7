using System.Globalization;

namespace Marie.Events.Broker.Limits;

/// <summary>
/// A call went over one of the <see cref="BrokerLimits"/>; the message names the limit and its value.
/// </summary>
public sealed class BrokerLimitException : Exception
{
    public BrokerLimitException()
    {
    }

    public BrokerLimitException(string message)
        : base(message)
    {
    }

    public BrokerLimitException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The limit's key (<see cref="LimitNames"/>).</summary>
    public string Limit { get; init; } = "";

    /// <summary>The limit's configured value.</summary>
    public int Max { get; init; }

    /// <summary>The one way a limit's refusal is built: "limit {limit} ({max}) exceeded: {what}".</summary>
    public static BrokerLimitException Create(string limit, int max, string what) =>
        new(LimitText.Describe(limit, max, what)) { Limit = limit, Max = max };
}

/// <summary>How a limit is named in messages: "limit max_topics (10000): ...".</summary>
internal static class LimitText
{
    public static string Describe(string limit, int max, string what) =>
        string.Create(CultureInfo.InvariantCulture, $"limit {limit} ({max}) exceeded: {what}");
}
