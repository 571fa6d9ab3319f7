using Marie.Events.Broker.Connections;
using Marie.Events.Protocol;
using static Marie.Events.Broker.Tests.DurableTests;

namespace Marie.Events.Broker.Tests;

/// <summary>Consumer groups on fake time: one durable shared by several streams of a key. Unless a test says
/// otherwise: ack timeout 10 s, a redelivery check every second, heartbeats every 4 s.</summary>
public sealed class ConsumerGroupTests
{
    private static TestBroker NewGroupBroker(Action<BrokerOptions>? more = null) => NewBroker(o =>
    {
        o.HeartbeatIntervalSeconds = 4;
        more?.Invoke(o);
    });

    private static async Task<BrokerConnection[]> MembersAsync(TestBroker t, int count)
    {
        var members = new BrokerConnection[count];
        for (var i = 0; i < count; i++)
        {
            members[i] = await JoinAsync(t, "k1", Durable($"m{i}", "work", "workers"));
            Assert.Equal("workers", Assert.Single(members[i].All().Confirms()).Group);
        }

        return members;
    }

    [Fact]
    public async Task Publish_ThreeMembers_EachEventToExactlyOneMember()
    {
        using var t = NewGroupBroker(o => o.MaxInFlight = 4);
        var members = await MembersAsync(t, 3);
        t.PublishMany("a", 12);

        var received = members.Select(m => m.All().Events()).ToArray();

        Assert.Equal(Drain.Range(1, 12), received.SelectMany(e => e.Seqs()).Order().ToArray());
        Assert.All(received, events => Assert.Equal(4, events.Count));
        Assert.All(received, events => Assert.Equal(events.Seqs().Order().ToArray(), events.Seqs()));
    }

    [Fact]
    public async Task Publish_MembersWithRoom_GoesToTheLeastBusySoTheLoadSpreads()
    {
        using var t = NewGroupBroker();
        var members = await MembersAsync(t, 3);
        t.PublishMany("a", 30);

        var received = members.Select(m => m.All().Events()).ToArray();

        Assert.All(received, events => Assert.Equal(10, events.Count));
        Assert.Equal(Drain.Range(1, 30), received.SelectMany(e => e.Seqs()).Order().ToArray());
    }

    [Fact]
    public async Task Publish_OverEveryMembersCap_WaitsAndFlowsToTheMemberThatAcks()
    {
        using var t = NewGroupBroker(o => o.MaxInFlight = 2);
        var members = await MembersAsync(t, 2);
        t.PublishMany("a", 6);
        var first = members[0].All().Events();
        Assert.Equal(2, first.Count);
        Assert.Equal(2, members[1].All().Events().Count);

        await members[0].HandleAsync(Msg.Ack("m0", first[0].AckId, first[1].AckId));

        Assert.Equal([5, 6], members[0].All().Events().Seqs());
        Assert.Empty(members[1].All().Events());
    }

    [Fact]
    public async Task MemberStreamEnds_ItsInFlightGoesToTheOthersAtOnce()
    {
        using var t = NewGroupBroker(o => o.MaxInFlight = 3);
        var members = await MembersAsync(t, 2);
        t.PublishMany("a", 4);
        var held = members[0].All().Events();
        Assert.NotEmpty(held);
        var other = members[1].All().Events();
        await members[1].HandleAsync(Msg.Ack("m1", [.. other.Select(e => e.AckId)]));
        members[1].All();

        members[0].Dispose();

        var handed = members[1].All().Events();
        Assert.Equal(held.Seqs(), handed.Seqs());
        Assert.All(handed, e => Assert.Equal(2, e.DeliveryAttempt));
        Assert.Contains(t.Logs.Entries, e => e.Message.Contains("unacknowledged events handed to the other members",
            StringComparison.Ordinal));
    }

    [Fact]
    public async Task SilentMember_ItsInFlightMovesWithinTwoHeartbeatIntervals()
    {
        using var t = NewGroupBroker(o =>
        {
            o.AckTimeoutSeconds = 60;
            o.MaxInFlight = 1;
        });
        var members = await MembersAsync(t, 2);
        t.PublishMany("a", 2);
        var held = members[0].All().Events();
        var acked = members[1].All().Events();
        Assert.Single(held);
        await members[1].HandleAsync(Msg.Ack("m1", acked[0].AckId));

        var moved = new List<EventEnvelope>();
        for (var step = 0; step < 32 && moved.Count == 0; step++)
        {
            // Member 1 keeps talking every quarter second; member 0 says nothing.
            t.AdvanceSeconds(0.25);
            await members[1].HandleAsync(Msg.Heartbeat());
            moved.AddRange(members[1].All().Events());
        }

        Assert.Equal(held.Seqs(), moved.Seqs());
        Assert.True(t.Time.GetUtcNow() - TestBroker.StartTime <= TimeSpan.FromSeconds(8),
            $"moved after {t.Time.GetUtcNow() - TestBroker.StartTime}");
        Assert.True(t.Time.GetUtcNow() - TestBroker.StartTime >= TimeSpan.FromSeconds(4), "not before it was silent");
        t.Publish("a");
        Assert.Empty(members[0].All().Events());
    }

    [Fact]
    public async Task MemberThatHeartbeats_NeverTakenForSilent_KeepsItsEvents()
    {
        using var t = NewGroupBroker(o => o.AckTimeoutSeconds = 60);
        var members = await MembersAsync(t, 2);
        t.Publish("a");
        Assert.Single(members, m => m.All().Events().Count == 1);
        for (var step = 0; step < 40; step++)
        {
            // Both heartbeat every second, as a client does at its default interval of the server's 4 s and less.
            t.AdvanceSeconds(0.25);
            if (step % 4 == 0)
            {
                foreach (var member in members) await member.HandleAsync(Msg.Heartbeat());
            }
        }

        Assert.All(members, m => Assert.Empty(m.All().Events()));
        Assert.DoesNotContain(t.Logs.Entries, e => e.Message.Contains("went silent", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SilentMember_HeardFromAgain_ClaimsAgain()
    {
        using var t = NewGroupBroker(o => o.AckTimeoutSeconds = 60);
        var members = await MembersAsync(t, 2);
        t.Publish("a");
        var silent = members.Single(m => m.All().Events().Count == 1);
        var talker = members.Single(m => m != silent);
        var talkerId = talker == members[0] ? "m0" : "m1";
        for (var step = 0; step < 32; step++)
        {
            t.AdvanceSeconds(0.25);
            await talker.HandleAsync(Msg.Heartbeat());
        }

        var taken = Assert.Single(talker.All().Events());
        await talker.HandleAsync(Msg.Ack(talkerId, taken.AckId));
        await silent.HandleAsync(Msg.Heartbeat());
        t.AdvanceSeconds(1);

        t.PublishMany("a", 4);

        Assert.NotEmpty(silent.All().Events());
    }

    [Fact]
    public async Task Join_OtherGroupName_ConflictAndStreamStaysUp()
    {
        using var t = NewGroupBroker();
        await MembersAsync(t, 1);
        var stranger = await JoinAsync(t, "k1", Durable("x", "work", "others"));

        var error = Assert.Single(stranger.All().Errors());
        Assert.Equal(ErrorCode.ErrorDurableConflict, error.Code);
        Assert.Single((await stranger.SendAndDrainAsync(Msg.Subscribe("p", "a"))).Confirms());
    }

    [Fact]
    public async Task Join_AnotherKeysGroup_SeesNothingOfIt()
    {
        using var t = NewGroupBroker();
        var mine = await MembersAsync(t, 1);
        var foreign = await JoinAsync(t, "k2", Durable("m0", "work", "workers"));
        foreign.All();
        t.PublishMany("a", 2);

        Assert.Equal([1, 2], mine[0].All().Events().Seqs());
        Assert.Equal([1, 2], foreign.All().Events().Seqs());
    }
}
