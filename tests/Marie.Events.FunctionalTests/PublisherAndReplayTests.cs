using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests;

/// <summary>EventPublisherService and GetReplayBuffer through the real broker (these wait for the broker to
/// land).</summary>
public sealed class PublisherAndReplayTests : IAsyncLifetime
{
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync() => _gateway = await GatewayFixture.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Publish_PublisherKey_ReturnsIdTopicAndSequence()
    {
        var first = await PublishAsync(_gateway.Keys.Publisher, Streams.Event("tenant-p"));
        var second = await PublishAsync(_gateway.Keys.Admin, Streams.Event("tenant-p"));

        Assert.Equal(32, first.Id.Length); // a new id: 32 hex characters
        Assert.Equal("tenant-p", first.Topic);
        Assert.Equal(1, first.SequenceNum);
        Assert.Equal(2, second.SequenceNum);
    }

    [Fact]
    public async Task Publish_GivenId_KeepsIt()
    {
        var evt = Streams.Event("tenant-id");
        evt.Id = "my-event-1";

        var reply = await PublishAsync(_gateway.Keys.Publisher, evt);

        Assert.Equal("my-event-1", reply.Id);
    }

    [Fact]
    public async Task Publish_MissingTopic_InvalidArgument()
    {
        var error = await Assert.ThrowsAsync<RpcException>(
            () => PublishAsync(_gateway.Keys.Publisher, Streams.Event("")));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("event.api_key (the topic) is required", error.Status.Detail);
    }

    [Fact]
    public async Task Publish_MissingEvent_InvalidArgument()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            _gateway.Publisher.PublishAsync(
                new PublishRequest(),
                GatewayFixture.Auth(_gateway.Keys.Publisher)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("event is required", error.Status.Detail);
    }

    [Fact]
    public async Task PublishStream_ThreeEvents_ReturnsSequentialResponses()
    {
        using var call = _gateway.Publisher.PublishStream(GatewayFixture.Auth(_gateway.Keys.Publisher));
        for (var i = 0; i < 3; i++)
        {
            await call.RequestStream.WriteAsync(new PublishRequest { Event = Streams.Event("tenant-ps") });
        }

        await call.RequestStream.CompleteAsync();
        var replies = new List<PublishResponse>();
        await foreach (var reply in call.ResponseStream.ReadAllAsync())
        {
            replies.Add(reply);
        }

        Assert.Equal([1L, 2L, 3L], replies.Select(r => r.SequenceNum));
        Assert.All(replies, r => Assert.Equal("tenant-ps", r.Topic));
    }

    [Fact]
    public async Task PublishStream_BadSecondEvent_FirstPublishedThenInvalidArgumentNamingIndex()
    {
        using var call = _gateway.Publisher.PublishStream(GatewayFixture.Auth(_gateway.Keys.Publisher));
        await call.RequestStream.WriteAsync(new PublishRequest { Event = Streams.Event("tenant-bad") });
        await call.RequestStream.WriteAsync(new PublishRequest { Event = Streams.Event("") });

        var first = await Streams.ReadUntilAsync(call.ResponseStream, _ => true);
        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());

        Assert.Equal(1, first.SequenceNum);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Equal("request 1: event.api_key (the topic) is required", error.Status.Detail);
    }

    [Fact]
    public async Task GetReplayBuffer_AfterThreePublishes_ReturnsEventsAfterFromAndHead()
    {
        for (var i = 0; i < 3; i++)
        {
            await PublishAsync(_gateway.Keys.Publisher, Streams.Event("tenant-replay"));
        }

        var reply = await _gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "tenant-replay", FromSequenceNum = 1, MaxEvents = 10 }, GatewayFixture.Auth(
                _gateway.Keys.Subscriber));

        Assert.Equal([2L, 3L], reply.Events.Select(e => e.SequenceNum));
        Assert.All(reply.Events, e => Assert.Equal("", e.AckId));
        Assert.All(reply.Events, e => Assert.Equal(0, e.DeliveryAttempt));
        Assert.Equal(3, reply.TopicHead);
        Assert.False(reply.HasMore);
    }

    [Fact]
    public async Task GetReplayBuffer_UnknownTopic_EmptyHeadZero()
    {
        var reply = await _gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "nobody-" + Guid.NewGuid().ToString("N") }, GatewayFixture.Auth(
                _gateway.Keys.Subscriber));

        Assert.Empty(reply.Events);
        Assert.Equal(0, reply.TopicHead);
        Assert.False(reply.HasMore);
    }

    [Fact]
    public async Task GetReplayBuffer_NegativeFrom_InvalidArgument()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => _gateway.Streams.GetReplayBufferAsync(
            new ReplayRequest { Topic = "t", FromSequenceNum = -1 }, GatewayFixture.Auth(
                _gateway.Keys.Subscriber)).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }

    private async Task<PublishResponse> PublishAsync(string key, EventData evt) =>
        await _gateway.Publisher.PublishAsync(new PublishRequest { Event = evt }, GatewayFixture.Auth(key));
}
