using System.CommandLine;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Commands;

/// <summary>The options that pick dead letters (the service's <c>DeadLetterFilter</c>) and whose they are
/// (<c>--key</c>), shared by <c>list</c>, <c>replay</c> and <c>purge</c>.</summary>
internal sealed class DeadLetterFilterOptions
{
    private static readonly string[] ReasonCodes = ["max_attempts", "terminated"];

    private readonly Option<string?> _topic = new("--topic", "-t")
    {
        Description = "Only dead letters of this topic.",
        HelpName = "TOPIC",
    };

    private readonly Option<string?> _subscription = new("--subscription", "-s")
    {
        Description = "Only those a subscription failed: its subscription id (plain subscriptions) or durable name.",
        HelpName = "ID",
    };

    private readonly Option<string?> _reason = new("--reason")
    {
        Description = "Only those with this reason code: max_attempts or terminated.",
        HelpName = "CODE",
    };

    private readonly Option<string[]> _ids = new("--id")
    {
        Description = "Only these dead-letter ids; several with commas, spaces or --id again.",
        HelpName = "ID",
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string?> _key = NewKeyOption();

    /// <summary><c>--key</c>: an admin key acting on another key's dead letters.</summary>
    public static Option<string?> NewKeyOption() => new("--key")
    {
        Description = "Admin keys only: the key (its name in auth.keys) whose dead letters to use. Default: your own.",
        HelpName = "NAME",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_topic);
        command.Options.Add(_subscription);
        command.Options.Add(_reason);
        command.Options.Add(_ids);
        command.Options.Add(_key);
    }

    /// <summary>The filter the options give (empty: all of the key's).</summary>
    /// <exception cref="CliException">An unknown reason code.</exception>
    public DeadLetterFilter Get(ParseResult parse)
    {
        var reason = parse.GetValue(_reason) ?? "";
        if (reason.Length > 0 && !ReasonCodes.Contains(reason))
        {
            throw new CliException($"--reason must be max_attempts or terminated (got '{reason}')", ExitCodes.BadInput);
        }

        var filter = new DeadLetterFilter
        {
            Topic = parse.GetValue(_topic) ?? "",
            Subscription = parse.GetValue(_subscription) ?? "",
            ReasonCode = reason,
        };
        filter.Ids.AddRange((parse.GetValue(_ids) ?? [])
            .SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct(StringComparer.Ordinal));
        return filter;
    }

    public string GetKey(ParseResult parse) => parse.GetValue(_key) ?? "";

    /// <summary>The filter in words, for the dry-run line: <c>topic tenant-a, reason terminated</c>.</summary>
    public static string Describe(DeadLetterFilter filter)
    {
        var parts = new List<string>();
        if (filter.Topic.Length > 0)
        {
            parts.Add($"topic {filter.Topic}");
        }

        if (filter.Subscription.Length > 0)
        {
            parts.Add($"subscription {filter.Subscription}");
        }

        if (filter.ReasonCode.Length > 0)
        {
            parts.Add($"reason {filter.ReasonCode}");
        }

        if (filter.Ids.Count > 0)
        {
            parts.Add($"{filter.Ids.Count} ids");
        }

        return parts.Count == 0 ? "all" : string.Join(", ", parts);
    }
}
