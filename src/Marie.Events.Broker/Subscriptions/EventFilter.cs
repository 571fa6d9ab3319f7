using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Broker.Topics;
using Marie.Events.Protocol;

namespace Marie.Events.Broker.Subscriptions;

/// <summary>
/// A subscription's compiled, immutable filter: event names (exact, <c>prefix.*</c>, <c>*</c>), sources to include
/// and exclude (exact, or a prefix when the entry ends in <c>*</c>), job ids, and metadata matches on dotted payload
/// paths compared as text. A filter update swaps the whole object.
/// </summary>
internal sealed class EventFilter
{
    public static readonly EventFilter All = Create([], null);

    private readonly TextMatcher? _names;
    private readonly TextMatcher? _includeSources;
    private readonly TextMatcher? _excludeSources;
    private readonly HashSet<string>? _jobIds;
    private readonly (string[] Path, string Value)[] _metadata;

    private EventFilter(IReadOnlyCollection<string> events, FilterConfig? config)
    {
        Events = [.. events];
        Config = config ?? new FilterConfig();
        _names = events.Count == 0 || events.Contains("*") ? null : new TextMatcher(events, wildcardSuffix: ".*");
        _includeSources = Config.IncludeSources.Count == 0
            ? null
            : new TextMatcher(Config.IncludeSources, wildcardSuffix: "*");
        _excludeSources = Config.ExcludeSources.Count == 0
            ? null
            : new TextMatcher(Config.ExcludeSources, wildcardSuffix: "*");
        _jobIds = Config.Jobids.Count == 0 ? null : new HashSet<string>(Config.Jobids, StringComparer.Ordinal);
        _metadata = [.. Config.MetadataMatch.Select(kv => (kv.Key.Split('.'), kv.Value))];
    }

    /// <summary>The event names of the subscription (kept across filter updates).</summary>
    public IReadOnlyList<string> Events { get; }

    /// <summary>The job ids the filter requires one of, or null when it does not filter on job id.</summary>
    public IReadOnlyCollection<string>? JobIds => _jobIds;

    /// <summary>The filter config as the client sent it.</summary>
    public FilterConfig Config { get; }

    public static EventFilter Create(IReadOnlyCollection<string> events, FilterConfig? config) => new(events, config);

    /// <summary>The same event names with a new filter config.</summary>
    public EventFilter WithConfig(FilterConfig? config) => new(Events.ToArray(), config);

    public bool Matches(StoredEvent stored)
    {
        if (_names is not null && !_names.Matches(stored.Name))
        {
            return false;
        }

        if (_jobIds is not null && !_jobIds.Contains(stored.JobId))
        {
            return false;
        }

        if (_includeSources is not null && !_includeSources.Matches(stored.Source))
        {
            return false;
        }

        if (_excludeSources is not null && _excludeSources.Matches(stored.Source))
        {
            return false;
        }

        if (_metadata.Length == 0)
        {
            return true;
        }

        // The payload: the published object during dispatch, parsed from the stored bytes on replay.
        var payload = stored.Data.Payload;
        foreach (var (path, expected) in _metadata)
        {
            if (!TryResolve(payload, path, out var text) || !string.Equals(text, expected, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Follows a dotted path into the payload (struct fields by name, list items by index) and renders
    /// the value found as text: strings as they are, numbers as JSON prints them, <c>true</c>/<c>false</c>,
    /// <c>null</c>. Structs and lists are not leaves and match nothing.</summary>
    internal static bool TryResolve(Struct? payload, string[] path, out string text)
    {
        text = "";
        if (payload is null)
        {
            return false;
        }

        Value? current = null;
        var container = payload;
        ListValue? list = null;
        foreach (var segment in path)
        {
            if (container is not null)
            {
                if (!container.Fields.TryGetValue(segment, out current))
                {
                    return false;
                }
            }
            else if (list is not null)
            {
                if (!int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                    || index >= list.Values.Count)
                {
                    return false;
                }

                current = list.Values[index];
            }
            else
            {
                return false;
            }

            container = current.KindCase == Value.KindOneofCase.StructValue ? current.StructValue : null;
            list = current.KindCase == Value.KindOneofCase.ListValue ? current.ListValue : null;
        }

        switch (current?.KindCase)
        {
            case Value.KindOneofCase.StringValue:
                text = current.StringValue;
                return true;
            case Value.KindOneofCase.NumberValue:
                text = FormatNumber(current.NumberValue);
                return true;
            case Value.KindOneofCase.BoolValue:
                text = current.BoolValue ? "true" : "false";
                return true;
            case Value.KindOneofCase.NullValue:
                text = "null";
                return true;
            default:
                return false;
        }
    }

    private static string FormatNumber(double value)
    {
        // Integral values up to 2^53 (the range a double holds exactly) print without a fraction, as JSON does.
        const double exactIntegerLimit = 9007199254740992d;
        if (Math.Abs(value) <= exactIntegerLimit && Math.Floor(value) == value)
        {
            return ((long)value).ToString(CultureInfo.InvariantCulture);
        }

        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>Exact names plus prefixes given by a wildcard suffix.</summary>
    private sealed class TextMatcher
    {
        private readonly HashSet<string> _exact = new(StringComparer.Ordinal);
        private readonly string[] _prefixes;

        public TextMatcher(IEnumerable<string> entries, string wildcardSuffix)
        {
            var prefixes = new List<string>();
            foreach (var entry in entries)
            {
                if (entry == "*")
                {
                    prefixes.Add("");
                }
                else if (entry.EndsWith(wildcardSuffix, StringComparison.Ordinal))
                {
                    // "extract.*" matches "extract.completed": keep the dot, drop the star.
                    prefixes.Add(entry[..^1]);
                }
                else
                {
                    _exact.Add(entry);
                }
            }

            _prefixes = [.. prefixes];
        }

        public bool Matches(string value)
        {
            if (_exact.Contains(value))
            {
                return true;
            }

            foreach (var prefix in _prefixes)
            {
                if (value.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
