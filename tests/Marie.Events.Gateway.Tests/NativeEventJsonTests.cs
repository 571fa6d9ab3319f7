using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;

namespace Marie.Events.Gateway.Tests;

/// <summary>The native log's line is protobuf's JSON form of the event: what protobuf's own formatter writes, read
/// back by its parser into the same event.</summary>
public sealed class NativeEventJsonTests
{
    private static readonly JsonFormatter Reference = new(
        JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));

    public static TheoryData<string> Events() =>
    [
        "plain",
        "empty",
        "escapes",
        "unicode",
        "nested",
        "numbers",
    ];

    [Theory]
    [MemberData(nameof(Events))]
    public void Line_Event_SameJsonAsProtobufFormatter(string name)
    {
        var evt = Make(name);

        var line = NativeEventJson.Line(evt);

        Assert.Equal((byte)'\n', line[^1]);
        var ours = Encoding.UTF8.GetString(line, 0, line.Length - 1);
        Assert.DoesNotContain('\n', ours);
        Assert.True(
            JsonElement.DeepEquals(Parse(Reference.Format(evt)), Parse(ours)),
            $"ours: {ours}\nprotobuf: {Reference.Format(evt)}");
        Assert.Equal(evt, JsonParser.Default.Parse<EventData>(ours));
    }

    [Fact]
    public void Line_NonFiniteNumber_WrittenAsProtobufSpellsIt()
    {
        var evt = Make("plain");
        evt.Payload.Fields["nan"] = Value.ForNumber(double.NaN);
        evt.Payload.Fields["inf"] = Value.ForNumber(double.NegativeInfinity);

        var json = Parse(Encoding.UTF8.GetString(NativeEventJson.Line(evt)));

        Assert.Equal("NaN", json.GetProperty("payload").GetProperty("nan").GetString());
        Assert.Equal("-Infinity", json.GetProperty("payload").GetProperty("inf").GetString());
    }

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static EventData Make(string name)
    {
        var evt = new EventData
        {
            Id = "evt-1",
            Source = "job://extract.pdf",
            ApiKey = "tenant-a",
            Jobid = "job-000001",
            Event = "extract.completed",
            Jobtag = "tag",
            Status = "OK",
            Timestamp = 1_767_225_600,
            Payload = new Struct(),
        };
        switch (name)
        {
            case "empty":
                return new EventData { Id = "only-id" };
            case "escapes":
                evt.Status = "quote \" backslash \\ tab \t newline \n nul \0 bell \a <tag> & 'x' =+";
                evt.Payload.Fields["path"] = Value.ForString("C:\\dir\\file \"x\"\r\n");
                break;
            case "unicode":
                evt.Source = "job://résumé/日本語/😀 \u2028 \u2029";
                evt.Payload.Fields["emoji"] = Value.ForString("🎉 ümlaut");
                break;
            case "nested":
                evt.Payload.Fields["list"] = Value.ForList(
                    Value.ForNumber(1), Value.ForString("two"), Value.ForBool(true), Value.ForNull(),
                    Value.ForStruct(new Struct { Fields = { ["deep"] = Value.ForList() } }));
                evt.Payload.Fields["object"] = Value.ForStruct(new Struct
                {
                    Fields = { ["a"] = Value.ForBool(false), ["b"] = Value.ForStruct(new Struct()) },
                });
                break;
            case "numbers":
                evt.Timestamp = long.MinValue;
                evt.Payload.Fields["int"] = Value.ForNumber(12);
                evt.Payload.Fields["negative"] = Value.ForNumber(-0.5);
                evt.Payload.Fields["big"] = Value.ForNumber(1e21);
                evt.Payload.Fields["small"] = Value.ForNumber(1.2345678901234567e-300);
                evt.Payload.Fields["max"] = Value.ForNumber(double.MaxValue);
                break;
        }

        return evt;
    }
}
