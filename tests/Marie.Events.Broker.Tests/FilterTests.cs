namespace Marie.Events.Broker.Tests;

/// <summary>The <c>events</c> name filter and FilterConfig include/exclude sources and jobids.</summary>
public sealed class FilterTests
{
    private static async Task<bool> DeliveredAsync(string[] events, string eventName)
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Events.AddRange(events);
        return await t.DeliversAsync(request, Ev.Make("a", eventName));
    }

    private static async Task<bool> DeliveredAsync(
        Marie.Events.Protocol.FilterConfig filter,
        string source,
        string jobid = "")
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Filter = filter;
        return await t.DeliversAsync(request, Ev.Make("a", source: source, jobid: jobid));
    }

    [Theory]
    [InlineData("extract.completed", true)]
    [InlineData("extract.started", false)]
    [InlineData("extract.completed.more", false)]
    [InlineData("extract", false)]
    public async Task Events_ExactName_MatchesOnlyThatName(string eventName, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(["extract.completed"], eventName));

    [Theory]
    [InlineData("extract.completed", true)]
    [InlineData("extract.scheduled", true)]
    [InlineData("extract.a.b", true)]
    [InlineData("extract", false)]
    [InlineData("extractor.completed", false)]
    [InlineData("run.success", false)]
    public async Task Events_PrefixStar_MatchesNamesStartingWithPrefixDot(string eventName, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(["extract.*"], eventName));

    [Theory]
    [InlineData("extract.completed")]
    [InlineData("run.success")]
    [InlineData("engine.event")]
    public async Task Events_StarAlone_MatchesEverything(string eventName)
        => Assert.True(await DeliveredAsync(["*"], eventName));

    [Theory]
    [InlineData("extract.completed")]
    [InlineData("x")]
    public async Task Events_Empty_MatchesEverything(string eventName)
        => Assert.True(await DeliveredAsync([], eventName));

    [Theory]
    [InlineData("run.success", true)]
    [InlineData("job.started", true)]
    [InlineData("engine.event", false)]
    public async Task Events_SeveralEntries_AnyEntryMatches(string eventName, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(["run.success", "job.*"], eventName));

    [Theory]
    [InlineData("gateway://scheduler", true)]
    [InlineData("gateway://scheduler/x", false)]
    [InlineData("gateway://schedule", false)]
    [InlineData("job://extract.scheduled/j1", false)]
    public async Task IncludeSources_ExactEntry_MatchesOnlyThatSource(string source, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(Msg.Filter(include: ["gateway://scheduler"]), source));

    [Theory]
    [InlineData("job://extract.scheduled/j1", true)]
    [InlineData("job://", true)]
    [InlineData("gateway://scheduler", false)]
    public async Task IncludeSources_TrailingStar_IsPrefixMatch(string source, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(Msg.Filter(include: ["job://*"]), source));

    [Theory]
    [InlineData("gateway://scheduler", true)]
    [InlineData("job://run/1", true)]
    [InlineData("other://x", false)]
    public async Task IncludeSources_SeveralEntries_SourceMustMatchOne(string source, bool expected)
        => Assert.Equal(
            expected,
            await DeliveredAsync(Msg.Filter(include: ["gateway://scheduler", "job://*"]), source));

    [Theory]
    [InlineData("gateway://scheduler", false)]
    [InlineData("gateway://scheduler/x", true)]
    [InlineData("job://extract.scheduled/j1", true)]
    public async Task ExcludeSources_ExactEntry_DropsOnlyThatSource(string source, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(Msg.Filter(exclude: ["gateway://scheduler"]), source));

    [Theory]
    [InlineData("job://extract.scheduled/j1", false)]
    [InlineData("job://extract.completed/j2", false)]
    [InlineData("job://run.started/j3", true)]
    [InlineData("gateway://scheduler", true)]
    public async Task ExcludeSources_TrailingStar_DropsPrefix(string source, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(Msg.Filter(exclude: ["job://extract*"]), source));

    [Theory]
    [InlineData("job://run.started/j1", true)]
    [InlineData("job://extract.started/j1", false)]
    [InlineData("gateway://scheduler", false)]
    public async Task IncludeAndExclude_Both_SourceMustMatchIncludeAndNoExclude(string source, bool expected)
        => Assert.Equal(
            expected,
            await DeliveredAsync(Msg.Filter(include: ["job://*"], exclude: ["job://extract*"]), source));

    [Theory]
    [InlineData("j1", true)]
    [InlineData("j2", true)]
    [InlineData("j3", false)]
    [InlineData("", false)]
    [InlineData("j10", false)]
    public async Task Jobids_NonEmpty_JobidMustBeOneOfThem(string jobid, bool expected)
        => Assert.Equal(expected, await DeliveredAsync(Msg.Filter(jobids: ["j1", "j2"]), "gateway://test", jobid));

    [Fact]
    public async Task Filter_EmptyFilterConfig_MatchesEverything()
        => Assert.True(await DeliveredAsync(new Marie.Events.Protocol.FilterConfig(), "anything://x", "j9"));

    [Fact]
    public async Task Filter_EventsAndFilterCombined_AllMustMatch()
    {
        using var t = new TestBroker();
        var request = Msg.Sub("s1", "a");
        request.Events.Add("extract.*");
        request.Filter = Msg.Filter(include: ["job://*"], jobids: ["j1"]);
        var connection = await t.ConnectAndSubscribeAsync(request);

        var match = t.Publish("a", "extract.completed", "job://extract.completed/j1", "j1");
        t.Publish("a", "run.success", "job://run.success/j1", "j1");
        t.Publish("a", "extract.completed", "gateway://x", "j1");
        t.Publish("a", "extract.completed", "job://extract.completed/j2", "j2");

        var events = connection.All().Events();
        Assert.Equal(match.Id, Assert.Single(events).Event.Id);
    }

    [Fact]
    public async Task Filter_FilteredOutEvents_DoNotCountAsInFlight()
    {
        using var t = new TestBroker(o => o.MaxInFlight = 2);
        var request = Msg.Sub("s1", "a");
        request.Events.Add("wanted");
        var connection = await t.ConnectAndSubscribeAsync(request);

        for (var i = 0; i < 5; i++) t.Publish("a", "unwanted");
        t.Publish("a", "wanted");
        t.Publish("a", "wanted");

        Assert.Equal([6L, 7L], connection.All().Events().Seqs());
        Assert.Equal(2, t.Stats().InFlightEvents);
    }
}
