using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// The native event log's line for one event: the protobuf JSON form of <see cref="EventData"/> (proto field names,
/// fields at their default value left out, the int64 <c>timestamp</c> as a string, <c>payload</c> as a JSON object),
/// as protobuf's <c>JsonFormatter</c> writes it and <c>JsonParser</c> (<c>marie-events publish --file</c>) reads it,
/// followed by a newline. Written with <see cref="Utf8JsonWriter"/> straight to UTF-8: the reflection-driven
/// formatter cost several microseconds of each publish's CPU (docs/performance.md, W6).
/// </summary>
internal static class NativeEventJson
{
    /// <summary>Only what JSON requires is escaped (quotes, backslashes, control characters): the file is read by
    /// tools, never embedded in HTML.</summary>
    private static readonly JsonWriterOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>The line, newline included, in an array of its own.</summary>
    public static byte[] Line(EventData evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        var writer = t_writer ??= new Utf8JsonWriter(buffer, Options);
        writer.Reset(buffer);
        writer.WriteStartObject();
        String(writer, "id", evt.Id);
        String(writer, "source", evt.Source);
        String(writer, "api_key", evt.ApiKey);
        String(writer, "jobid", evt.Jobid);
        String(writer, "event", evt.Event);
        String(writer, "jobtag", evt.Jobtag);
        String(writer, "status", evt.Status);
        if (evt.Timestamp != 0)
        {
            // Protobuf's JSON mapping writes 64-bit integers as strings (JavaScript numbers hold 53 bits).
            writer.WriteString("timestamp", evt.Timestamp.ToString(CultureInfo.InvariantCulture));
        }

        if (evt.Payload is { } payload)
        {
            writer.WritePropertyName("payload");
            Object(writer, payload);
        }

        writer.WriteEndObject();
        writer.Flush();
        var line = new byte[buffer.WrittenCount + 1];
        buffer.WrittenSpan.CopyTo(line);
        line[^1] = (byte)'\n';
        return line;
    }

    private static void String(Utf8JsonWriter writer, string name, string value)
    {
        if (value.Length != 0)
        {
            writer.WriteString(name, value);
        }
    }

    private static void Object(Utf8JsonWriter writer, Struct value)
    {
        writer.WriteStartObject();
        foreach (var (name, field) in value.Fields)
        {
            writer.WritePropertyName(name);
            Value(writer, field);
        }

        writer.WriteEndObject();
    }

    private static void Value(Utf8JsonWriter writer, Value value)
    {
        switch (value.KindCase)
        {
            case Google.Protobuf.WellKnownTypes.Value.KindOneofCase.StringValue:
                writer.WriteStringValue(value.StringValue);
                break;
            case Google.Protobuf.WellKnownTypes.Value.KindOneofCase.NumberValue:
                Number(writer, value.NumberValue);
                break;
            case Google.Protobuf.WellKnownTypes.Value.KindOneofCase.BoolValue:
                writer.WriteBooleanValue(value.BoolValue);
                break;
            case Google.Protobuf.WellKnownTypes.Value.KindOneofCase.StructValue:
                Object(writer, value.StructValue);
                break;
            case Google.Protobuf.WellKnownTypes.Value.KindOneofCase.ListValue:
                writer.WriteStartArray();
                foreach (var item in value.ListValue.Values)
                {
                    Value(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                // NullValue, and a Value with no kind set, which protobuf's formatter also writes as null.
                writer.WriteNullValue();
                break;
        }
    }

    private static void Number(Utf8JsonWriter writer, double number)
    {
        if (double.IsFinite(number))
        {
            writer.WriteNumberValue(number);
            return;
        }

        // JSON has no NaN or infinity; protobuf's mapping spells them as these strings.
        writer.WriteStringValue(double.IsNaN(number) ? "NaN" : number > 0 ? "Infinity" : "-Infinity");
    }
}
