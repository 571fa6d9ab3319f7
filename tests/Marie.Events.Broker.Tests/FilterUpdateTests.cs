using Marie.Events.Protocol;

namespace Marie.Events.Broker.Tests;

/// <summary>FilterUpdate: replaces the FilterConfig (not <c>events</c>) for later events; unknown id errors.</summary>
public sealed class FilterUpdateTests
{
    [Fact]
    public async Task FilterUpdate_NewFilter_AppliesToLaterEventsOnly()
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Filter = Msg.Filter(include: ["src://one"]);
        var connection = await t.ConnectAndSubscribeAsync(request);
        var before = t.Publish("a", source: "src://one");
        t.Publish("a", source: "src://two");
        var delivered = connection.All().Events();

        var messages = await connection.SendAndDrainAsync(Msg.FilterUpdate("s1", Msg.Filter(include: ["src://two"])));
        t.Publish("a", source: "src://one");
        var after = t.Publish("a", source: "src://two");

        Assert.Equal(before.Id, Assert.Single(delivered).Event.Id);
        Assert.Empty(messages.Errors());
        Assert.Equal(after.Id, Assert.Single(connection.All().Events()).Event.Id);
    }

    [Fact]
    public async Task FilterUpdate_DoesNotRedeliverOrRecallEarlierEvents()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        t.PublishMany("a", 3);
        connection.All();

        var messages = await connection.SendAndDrainAsync(Msg.FilterUpdate("s1", Msg.Filter(jobids: ["nope"])));

        Assert.Empty(messages.Events());
        Assert.Equal(3, t.Stats().InFlightEvents);
    }

    [Fact]
    public async Task FilterUpdate_KeepsEventsNameFilter()
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Events.Add("job.*");
        var connection = await t.ConnectAndSubscribeAsync(request);

        await connection.HandleAsync(Msg.FilterUpdate("s1", Msg.Filter(include: ["src://x"])));
        var match = t.Publish("a", "job.started", "src://x");
        t.Publish("a", "other.started", "src://x");
        t.Publish("a", "job.started", "src://y");

        Assert.Equal(match.Id, Assert.Single(connection.All().Events()).Event.Id);
    }

    [Fact]
    public async Task FilterUpdate_EmptyFilter_ClearsPreviousFilter()
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Filter = Msg.Filter(jobids: ["j1"], metadata: new Dictionary<string, string> { ["k"] = "v" });
        var connection = await t.ConnectAndSubscribeAsync(request);

        await connection.HandleAsync(Msg.FilterUpdate("s1", new FilterConfig()));
        t.Publish("a", jobid: "j2");

        Assert.Single(connection.All().Events());
    }

    [Fact]
    public async Task FilterUpdate_ReplacesWholeFilterNotMerges()
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Filter = Msg.Filter(jobids: ["j1"]);
        var connection = await t.ConnectAndSubscribeAsync(request);

        await connection.HandleAsync(Msg.FilterUpdate("s1", Msg.Filter(include: ["src://x"])));
        var otherJob = t.Publish("a", source: "src://x", jobid: "j2");

        Assert.Equal(otherJob.Id, Assert.Single(connection.All().Events()).Event.Id);
    }

    [Fact]
    public async Task FilterUpdate_MetadataMatch_Evaluated()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");

        await connection.HandleAsync(Msg.FilterUpdate("s1",
            Msg.Filter(metadata: new Dictionary<string, string> { ["doc.kind"] = "invoice" })));
        var match = t.Publish("a", payloadJson: """{"doc": {"kind": "invoice"}}""");
        t.Publish("a", payloadJson: """{"doc": {"kind": "receipt"}}""");

        Assert.Equal(match.Id, Assert.Single(connection.All().Events()).Event.Id);
    }

    [Fact]
    public async Task FilterUpdate_UnknownSubscription_InvalidSubscriptionError()
    {
        using var t = new TestBroker();
        var connection = await t.ConnectAndSubscribeAsync("s1", "a");
        connection.All();

        var messages = await connection.SendAndDrainAsync(Msg.FilterUpdate("nope", Msg.Filter(jobids: ["j1"])));

        Assert.Equal(ErrorCode.ErrorInvalidSubscription, Assert.Single(messages.Errors()).Code);
        t.Publish("a", jobid: "j2");
        Assert.Single(connection.All().Events());
    }

    [Fact]
    public async Task FilterUpdate_SubscriptionOfOtherConnection_InvalidSubscriptionError()
    {
        using var t = new TestBroker();
        var owner = await t.ConnectAndSubscribeAsync("s1", "a");
        var other = t.Connect();

        var messages = await other.SendAndDrainAsync(Msg.FilterUpdate("s1", Msg.Filter(jobids: ["j1"])));

        Assert.Equal(ErrorCode.ErrorInvalidSubscription, Assert.Single(messages.Errors()).Code);
        t.Publish("a", jobid: "j2");
        Assert.Single(owner.All().Events());
    }
}
