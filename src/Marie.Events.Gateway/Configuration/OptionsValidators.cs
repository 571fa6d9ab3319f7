using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Configuration;

/// <summary>Validates <c>gateway.*</c>; every message names the full key.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    /// <summary>Highest TCP port.</summary>
    private const int MaxPort = 65535;

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        if (!ListenAddress.TryParse(options.Host, out _))
        {
            errors.Add($"gateway.host must be \"*\", \"localhost\" or an IP address (got '{options.Host}')");
        }

        CheckPort(errors, "gateway.port", options.Port);
        CheckPort(errors, "gateway.admin_port", options.AdminPort);
        if (options.Port != 0 && options.Port == options.AdminPort)
        {
            errors.Add(Invariant($"gateway.admin_port must differ from gateway.port (both {options.Port})"));
        }

        if (string.IsNullOrWhiteSpace(options.StateDir))
        {
            errors.Add("gateway.state_dir must not be empty");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckPort(List<string> errors, string key, int port)
    {
        if (port is < 0 or > MaxPort)
        {
            errors.Add(Invariant($"{key} must be between 0 and {MaxPort} (got {port})"));
        }
    }

    internal static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Validates <c>toast.*</c>, the broker keys through <see cref="Broker.BrokerOptions.Validate"/>.</summary>
internal sealed class ToastOptionsValidator : IValidateOptions<ToastOptions>
{
    private const string BrokerPrefix = "toast.grpc.broker.";

    public ValidateOptionsResult Validate(string? name, ToastOptions options)
    {
        var errors = new List<string>();
        if (options.Native.Enabled && options.Native.Path is not null && string.IsNullOrWhiteSpace(options.Native.Path))
        {
            errors.Add("toast.native.path must not be empty when toast.native.enabled is true");
        }

        var broker = options.Grpc.Broker;
        CheckFinite(errors, BrokerPrefix + "ack_timeout_s", broker.AckTimeoutSeconds);
        CheckFinite(errors, BrokerPrefix + "heartbeat_interval_s", broker.HeartbeatIntervalSeconds);
        CheckFinite(errors, BrokerPrefix + "redelivery_delay_s", broker.RedeliveryDelaySeconds);
        CheckFinite(errors, BrokerPrefix + "max_ack_extension_s", broker.MaxAckExtensionSeconds);
        CheckFinite(errors, BrokerPrefix + "dead_letters.max_age_s", broker.DeadLetters.MaxAgeSeconds);
        CheckFinite(errors, BrokerPrefix + "durable.inactive_ttl_s", broker.Durable.InactiveTtlSeconds);
        if (broker.ToBrokerOptions().Validate() is { } invalid)
        {
            errors.Add($"{BrokerPrefix}{invalid.Key} {invalid.Message}");
        }

        BackendOptionsCheck.Validate(broker, errors);

        var queue = options.Grpc.Queue;
        if (queue.MaxSize < 1)
        {
            errors.Add(
                GatewayOptionsValidator.Invariant(
                    $"toast.grpc.queue.maxsize must be at least 1 (got {queue.MaxSize})"));
        }

        var retry = options.Grpc.Retry;
        CheckFinite(errors, "toast.grpc.retry.backoff_base_s", retry.BackoffBaseSeconds);
        CheckFinite(errors, "toast.grpc.retry.backoff_max_s", retry.BackoffMaxSeconds);
        if (!(retry.BackoffBaseSeconds > 0))
        {
            errors.Add(
                GatewayOptionsValidator.Invariant(
                    $"toast.grpc.retry.backoff_base_s must be greater than 0 (got {retry.BackoffBaseSeconds})"));
        }
        else if (!(retry.BackoffMaxSeconds >= retry.BackoffBaseSeconds))
        {
            errors.Add(
                "toast.grpc.retry.backoff_max_s must be at least " +
                GatewayOptionsValidator.Invariant(
                    $"toast.grpc.retry.backoff_base_s ({retry.BackoffBaseSeconds}) (got {retry.BackoffMaxSeconds})"));
        }

        if (retry.MaxAttempts < 0)
        {
            errors.Add(
                GatewayOptionsValidator.Invariant(
                    $"toast.grpc.retry.max_attempts must be 0 (infinite) or more (got {retry.MaxAttempts})"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckFinite(List<string> errors, string key, double value)
    {
        if (double.IsInfinity(value))
        {
            errors.Add(GatewayOptionsValidator.Invariant($"{key} must be a finite number (got {value})"));
        }
    }
}

/// <summary>Parses <c>gateway.host</c>.</summary>
internal static class ListenAddress
{
    /// <summary><c>*</c> -> null (any address); <c>localhost</c> -> loopback; else an IP literal.</summary>
    public static bool TryParse(string? host, out IPAddress? address)
    {
        address = null;
        switch (host?.Trim())
        {
            case "*":
                return true;
            case { } h when h.Equals("localhost", StringComparison.OrdinalIgnoreCase):
                address = IPAddress.Loopback;
                return true;
            case { Length: > 0 } h:
                return IPAddress.TryParse(h, out address);
            default:
                return false;
        }
    }
}
