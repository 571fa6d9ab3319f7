using System.CommandLine;

namespace Marie.Events.Cli;

/// <summary>The options every command that talks to a gateway takes: <c>--address</c> and <c>--api-key</c>, with
/// their environment variables.</summary>
internal sealed class CommonOptions
{
    public const string AddressVariable = "MARIE_EVENTS_ADDRESS";
    public const string ApiKeyVariable = "MARIE_EVENTS_API_KEY";

    /// <summary>The gateway's gRPC port on this machine (the shipped configuration).</summary>
    public const string DefaultAddress = "http://localhost:51001";

    public CommonOptions(CliContext context)
    {
        Address = new Option<string?>("--address", "-a")
        {
            Description = $"The gateway's gRPC address [env {AddressVariable}; default {DefaultAddress}]. A bare "
                + "host:port means http://host:port.",
            HelpName = "URL",
        };
        ApiKey = new Option<string?>("--api-key", "-k")
        {
            Description = $"The API key, sent as 'authorization: Bearer <key>' [env {ApiKeyVariable}].",
            HelpName = "KEY",
        };
        _context = context;
    }

    // The environment is read when a command runs, not as the options' defaults: help would print a key.
    private readonly CliContext _context;

    public Option<string?> Address { get; }

    public Option<string?> ApiKey { get; }

    /// <summary>Adds both options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Address);
        command.Options.Add(ApiKey);
    }

    /// <summary>The normalised address (scheme added when missing).</summary>
    /// <exception cref="CliException">Not an http(s) URL.</exception>
    public Uri GetAddress(ParseResult parse) =>
        parse.GetValue(Address) is { } given ? Addresses.Parse(given, "--address")
        : _context.GetEnvironmentVariable(AddressVariable) is { Length: > 0 } fromEnvironment
            ? Addresses.Parse(fromEnvironment, AddressVariable)
        : Addresses.Parse(DefaultAddress, "--address");

    public string? GetApiKey(ParseResult parse) =>
        parse.GetValue(ApiKey)
            ?? (_context.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } fromEnvironment
                ? fromEnvironment
                : null);

    /// <summary>The key, required.</summary>
    /// <exception cref="CliException">None given.</exception>
    public string RequireApiKey(ParseResult parse) =>
        GetApiKey(parse)
            ?? throw new CliException($"an API key is needed: --api-key KEY or {ApiKeyVariable}", ExitCodes.BadInput);
}

/// <summary>Gateway addresses.</summary>
internal static class Addresses
{
    /// <summary>Parses <c>http://host:port</c>, <c>https://…</c>, or a bare <c>host:port</c> (http).</summary>
    public static Uri Parse(string text, string option)
    {
        var value = text.Trim();
        if (!value.Contains("://", StringComparison.Ordinal))
        {
            value = "http://" + value;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new CliException(
                $"{option} must be an address like http://localhost:51001 (got '{text}')",
                ExitCodes.BadInput);
        }

        return uri;
    }
}
