namespace Marie.Events.Gateway;

/// <summary>The gateway's configuration cannot be used: a missing or unparsable file, a bad <c>--config</c>
/// argument, a bad <c>MARIE_LOG_LEVEL</c>, or an unreadable development key file. Invalid values inside a valid
/// file are reported at start-up as <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>.</summary>
public sealed class GatewayConfigurationException : Exception
{
    public GatewayConfigurationException()
    {
    }

    public GatewayConfigurationException(string message)
        : base(message)
    {
    }

    public GatewayConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
