using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Configuration;

/// <summary><c>MARIE_LOG_LEVEL</c>: Marie-AI's Python names (DEBUG, INFO, WARNING, ERROR, CRITICAL) or a
/// <see cref="LogLevel"/> name, case-insensitive. Unset: Information.</summary>
internal static class LogLevelSetting
{
    public const string EnvironmentVariable = "MARIE_LOG_LEVEL";

    /// <exception cref="GatewayConfigurationException">An unknown level name.</exception>
    public static LogLevel Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return LogLevel.Information;
        }

        switch (value.Trim().ToUpperInvariant())
        {
            case "DEBUG": return LogLevel.Debug;
            case "INFO": return LogLevel.Information;
            case "WARN" or "WARNING": return LogLevel.Warning;
            case "ERROR": return LogLevel.Error;
            case "CRITICAL" or "FATAL": return LogLevel.Critical;
        }

        if (Enum.TryParse<LogLevel>(value.Trim(), ignoreCase: true, out var level)
            && Enum.IsDefined(level)
            && !int.TryParse(value, out _))
        {
            return level;
        }

        throw new GatewayConfigurationException(
            $"{EnvironmentVariable} must be DEBUG, INFO, WARNING, ERROR or CRITICAL (or Trace, Debug, Information, " +
            $"Warning, Error, Critical, None) (got '{value}')");
    }
}
