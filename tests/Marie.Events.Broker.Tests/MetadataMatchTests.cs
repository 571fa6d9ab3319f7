namespace Marie.Events.Broker.Tests;

/// <summary>metadata_match: dotted paths into the payload Struct, values compared as text (semantics.md).</summary>
public sealed class MetadataMatchTests
{
    private const string Payload = """
        {
          "count": "3",
          "doc": {
            "pages": 3,
            "ratio": 2.5,
            "big": 1234567,
            "negative": -4,
            "name": "invoice",
            "empty": "",
            "ok": true,
            "bad": false,
            "none": null,
            "deep": { "k": "v", "n": { "level": 7 } }
          }
        }
        """;

    private static async Task<bool> MatchesAsync(Dictionary<string, string> metadata, string? payloadJson = Payload)
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Filter = Msg.Filter(metadata: metadata);
        return await t.DeliversAsync(request, Ev.Make("a", payloadJson: payloadJson));
    }

    private static Task<bool> PathMatchesAsync(string path, string value) => MatchesAsync(new() { [path] = value });

    [Theory]
    [InlineData("doc.name", "invoice", true)]
    [InlineData("doc.name", "Invoice", false)]
    [InlineData("doc.name", "invoic", false)]
    [InlineData("doc.empty", "", true)]
    [InlineData("count", "3", true)]
    public async Task MetadataMatch_StringValue_ComparedAsIs(string path, string value, bool expected)
        => Assert.Equal(expected, await PathMatchesAsync(path, value));

    [Theory]
    [InlineData("doc.pages", "3", true)]
    [InlineData("doc.pages", "3.0", false)]
    [InlineData("doc.pages", "03", false)]
    [InlineData("doc.ratio", "2.5", true)]
    [InlineData("doc.ratio", "2.50", false)]
    [InlineData("doc.big", "1234567", true)]
    [InlineData("doc.negative", "-4", true)]
    public async Task MetadataMatch_NumberValue_ComparedAsJsonPrintsIt(string path, string value, bool expected)
        => Assert.Equal(expected, await PathMatchesAsync(path, value));

    [Theory]
    [InlineData("""{"v": 3}""", true)]
    [InlineData("""{"v": "3"}""", true)]
    [InlineData("""{"v": 3.0}""", true)]
    [InlineData("""{"v": "3.0"}""", false)]
    [InlineData("""{"v": 30}""", false)]
    public async Task MetadataMatch_Text3_MatchesNumber3AndString3(string payloadJson, bool expected)
        => Assert.Equal(expected, await MatchesAsync(new() { ["v"] = "3" }, payloadJson));

    [Theory]
    [InlineData("doc.ok", "true", true)]
    [InlineData("doc.ok", "True", false)]
    [InlineData("doc.ok", "1", false)]
    [InlineData("doc.bad", "false", true)]
    [InlineData("doc.bad", "true", false)]
    public async Task MetadataMatch_BoolValue_ComparedAsTrueOrFalse(string path, string value, bool expected)
        => Assert.Equal(expected, await PathMatchesAsync(path, value));

    [Theory]
    [InlineData("doc.none", "null", true)]
    [InlineData("doc.none", "", false)]
    public async Task MetadataMatch_NullValue_ComparedAsNull(string path, string value, bool expected)
        => Assert.Equal(expected, await PathMatchesAsync(path, value));

    [Theory]
    [InlineData("doc.deep.k", "v", true)]
    [InlineData("doc.deep.n.level", "7", true)]
    [InlineData("doc.deep.n.level", "8", false)]
    public async Task MetadataMatch_NestedDottedPath_Resolved(string path, string value, bool expected)
        => Assert.Equal(expected, await PathMatchesAsync(path, value));

    [Theory]
    [InlineData("doc.missing", "x")]
    [InlineData("missing", "null")]
    [InlineData("doc.deep.absent.level", "7")]
    [InlineData("doc.name.length", "7")]
    [InlineData("doc.pages.x", "3")]
    [InlineData("pages", "3")]
    public async Task MetadataMatch_MissingPath_NoMatch(string path, string value)
        => Assert.False(await PathMatchesAsync(path, value));

    [Fact]
    public async Task MetadataMatch_EventWithoutPayload_NoMatch()
        => Assert.False(await MatchesAsync(new() { ["doc.name"] = "invoice" }, payloadJson: null));

    [Fact]
    public async Task MetadataMatch_AllEntriesMatch_Delivered()
        => Assert.True(await MatchesAsync(
            new() { ["doc.name"] = "invoice", ["doc.pages"] = "3", ["doc.ok"] = "true" }));

    [Fact]
    public async Task MetadataMatch_OneEntryFails_NotDelivered()
        => Assert.False(await MatchesAsync(new() { ["doc.name"] = "invoice", ["doc.pages"] = "4" }));

    [Fact]
    public async Task MetadataMatch_Empty_MatchesEventsWithoutPayload()
        => Assert.True(await MatchesAsync(new Dictionary<string, string>(), payloadJson: null));
}
