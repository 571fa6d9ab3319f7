using System.Globalization;
using System.Text;
using Google.Protobuf;
using Marie.Events.Protocol;

namespace Marie.Events.Cli;

/// <summary>How events are shown: one line for people, or one JSON object a line for scripts.</summary>
internal static class EventFormat
{
    /// <summary>Proto field names (<c>api_key</c>, <c>sequence_num</c>), one line per object.</summary>
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));

    /// <summary>Reads the JSON form of <see cref="EventData"/> (either field spelling; unknown fields are errors,
    /// so a typo does not pass silently).</summary>
    public static readonly JsonParser Parser = new(JsonParser.Settings.Default);

    public static string ToJson(IMessage message) => Json.Format(message);

    /// <summary><c>#12 tenant-a extract.completed job=job-1 status=OK source=job://… {"pages": 3}</c>, plus
    /// <c>(attempt n)</c> for a redelivery.</summary>
    public static string ToLine(EventEnvelope envelope)
    {
        var evt = envelope.Event ?? new EventData();
        var line = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"#{envelope.SequenceNum} {evt.ApiKey} {evt.Event}");
        Field(line, "id", evt.Id);
        Field(line, "job", evt.Jobid);
        Field(line, "status", evt.Status);
        Field(line, "source", evt.Source);
        if (evt.Payload is { Fields.Count: > 0 })
        {
            line.Append(' ').Append(Json.Format(evt.Payload));
        }

        if (envelope.DeliveryAttempt > 1)
        {
            line.Append(CultureInfo.InvariantCulture, $" (attempt {envelope.DeliveryAttempt})");
        }

        return line.ToString();
    }

    private static void Field(StringBuilder line, string name, string value)
    {
        if (value.Length > 0)
        {
            line.Append(' ').Append(name).Append('=').Append(value);
        }
    }
}
