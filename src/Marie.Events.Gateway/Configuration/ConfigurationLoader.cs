using Microsoft.Extensions.Configuration;

namespace Marie.Events.Gateway.Configuration;

/// <summary>
/// Where the configuration comes from: <c>--config FILE</c>, else <c>MARIE_EVENTS_CONFIG</c>, else the default
/// <c>config/gateway.yml</c> embedded in the gateway. The chosen file replaces the default (keys it omits keep the
/// options' defaults, which are the embedded file's values).
/// </summary>
internal static class ConfigurationLoader
{
    public const string ConfigArgument = "--config";
    public const string ConfigEnvironmentVariable = "MARIE_EVENTS_CONFIG";
    public const string EmbeddedResourceName = "Marie.Events.Gateway.gateway.yml";

    /// <summary>Adds the configuration file to <paramref name="builder"/>.</summary>
    /// <returns>A description of the source, for the start-up log.</returns>
    /// <exception cref="GatewayConfigurationException">A missing file or argument, or YAML that does not
    /// parse.</exception>
    public static string AddGatewayConfiguration(
        IConfigurationBuilder builder,
        IReadOnlyList<string> args,
        Func<string, string?> environment) =>
        AddGatewayConfiguration(builder, args, environment, out _);

    /// <summary>Adds the configuration file to <paramref name="builder"/>.</summary>
    /// <param name="builder">Where to add it.</param>
    /// <param name="args">The command line.</param>
    /// <param name="environment">Reads environment variables.</param>
    /// <param name="file">The file's full path; null when the embedded default is used.</param>
    /// <returns>A description of the source, for the start-up log.</returns>
    /// <exception cref="GatewayConfigurationException">A missing file or argument, or YAML that does not
    /// parse.</exception>
    public static string AddGatewayConfiguration(
        IConfigurationBuilder builder,
        IReadOnlyList<string> args,
        Func<string, string?> environment,
        out string? file)
    {
        file = null;
        var (path, origin) = FindConfigFile(args, environment);
        try
        {
            if (path is null)
            {
                // Parsed once into memory: a stream source could not be reloaded if the sources were rebuilt.
                using var stream = typeof(ConfigurationLoader).Assembly.GetManifestResourceStream(EmbeddedResourceName)
                    ?? throw new GatewayConfigurationException(
                        $"The embedded default configuration {EmbeddedResourceName} is missing from the gateway " +
                        "assembly.");
                var defaults = new ConfigurationBuilder().AddYamlStream(stream).Build();
                builder.AddInMemoryCollection(defaults.AsEnumerable());
                return "the embedded default config/gateway.yml";
            }

            var full = Path.GetFullPath(path);
            if (!File.Exists(full))
            {
                throw new GatewayConfigurationException($"Configuration file not found: {full} (from {origin})");
            }

            // Not reloadOnChange: the key reload service watches the file and validates a change before it applies.
            builder.AddYamlFile(full, optional: false, reloadOnChange: false);
            file = full;
            return $"{full} (from {origin})";
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or YamlDotNet.Core.YamlException)
        {
            var where = path is null ? "the embedded default configuration" : Path.GetFullPath(path);
            throw new GatewayConfigurationException($"Cannot parse {where}: {ex.Message}", ex);
        }
    }

    private static (string? Path, string Origin) FindConfigFile(
        IReadOnlyList<string> args,
        Func<string, string?> environment)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == ConfigArgument)
            {
                if (i + 1 >= args.Count || string.IsNullOrWhiteSpace(args[i + 1]))
                {
                    throw new GatewayConfigurationException(
                        $"{ConfigArgument} needs a file path: {ConfigArgument} FILE");
                }

                return (args[i + 1], ConfigArgument);
            }

            if (arg.StartsWith(ConfigArgument + "=", StringComparison.Ordinal))
            {
                var value = arg[(ConfigArgument.Length + 1)..];
                return string.IsNullOrWhiteSpace(value)
                    ? throw new GatewayConfigurationException(
                        $"{ConfigArgument} needs a file path: {ConfigArgument} FILE")
                    : (value, ConfigArgument);
            }
        }

        var fromEnvironment = environment(ConfigEnvironmentVariable);
        return string.IsNullOrWhiteSpace(fromEnvironment) ? (null, "") : (fromEnvironment, ConfigEnvironmentVariable);
    }
}
