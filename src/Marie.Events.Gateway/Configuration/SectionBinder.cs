using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Configuration;

/// <summary>Binds a configuration section onto an options object, turning a value that does not convert (e.g.
/// <c>max_in_flight: many</c>) into an <see cref="OptionsValidationException"/> naming the dotted key.</summary>
internal static partial class SectionBinder
{
    public static void Bind<TOptions>(IConfiguration configuration, string section, TOptions target)
        where TOptions : class
    {
        try
        {
            configuration.GetSection(section).Bind(target);
        }
        catch (InvalidOperationException ex)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(TOptions), [Describe(ex)]);
        }
    }

    /// <summary>"toast.grpc.broker.max_in_flight: 'many' is not a valid Int32" from the binder's message, which
    /// names the path with ':' separators; the binder's own message when it does not have that shape.</summary>
    private static string Describe(InvalidOperationException ex)
    {
        var match = BinderMessage().Match(ex.Message);
        if (!match.Success)
        {
            return ex.Message;
        }

        var key = match.Groups["path"].Value.Replace(':', '.');
        var type = match.Groups["type"].Value switch
        {
            "System.Int32" or "System.Int64" => "an integer",
            "System.Double" => "a number",
            "System.Boolean" => "true or false",
            var other => other,
        };
        return $"{key} must be {type} (got '{match.Groups["value"].Value}')";
    }

    [GeneratedRegex(
        @"value '(?<value>[^']*)' at '(?<path>[^']+)' to type '(?<type>[^']+)'",
        RegexOptions.CultureInvariant)]
    private static partial Regex BinderMessage();
}
