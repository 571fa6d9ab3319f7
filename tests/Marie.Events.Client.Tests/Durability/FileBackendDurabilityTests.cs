using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.Client.Tests.Cluster;
using Marie.Events.Client.Tests.Infrastructure;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using Xunit.Abstractions;

namespace Marie.Events.Client.Tests.Durability;

/// <summary>The file backend (docs/delivery.md, "What survives what"): the gateway in its own process on
/// <c>toast.grpc.broker.backend: file</c>, killed (<c>kill -9</c>) or stopped and started again on the same state
/// dir.</summary>
public sealed class FileBackendDurabilityTests(ITestOutputHelper output)
{
    private const int ReplayPage = 1_000;

    [Fact]
    public async Task KillDuringPublish_FileBackend_EveryAcknowledgedEventThereOnceAndResumeHasNoGap()
    {
        // Enough that the kill (at a third, after the epochs are read) lands while the producers still run: at
        // 20,000 a fast run had them all acknowledged by the time the kill took effect.
        const int events = 60_000;
        const int producers = 4;
        const int subscriberPoint = 500;
        string[] topics = ["dur-0", "dur-1", "dur-2", "dur-3"];
        var keys = new TestKeys();
        var stateDir = GatewayFixture.NewTempDir();
        try
        {
            var acknowledged = new List<(string Id, string Topic, long Sequence)>();
            var sent = new HashSet<string>(StringComparer.Ordinal);
            var epochsBefore = new Dictionary<string, string>(StringComparer.Ordinal);
            ResumePoint resume;
            List<ReceivedEvent> seenBefore;
            await using (var first = await StartFileGatewayAsync(keys, stateDir, events))
            {
                // A subscriber on the first topic, from its first event, reading up to its point before the kill.
                await using var subscriber = ClusterKit.Client(keys.Subscriber, first.Address);
                var options = new SubscriptionOptions { BufferCapacity = 2 * subscriberPoint };
                options.Topics.Add(topics[0]);
                await using var subscription = await subscriber.SubscribeAsync(options);

                // The replay client is connected (and warm) before the run, so reading the epochs is quick.
                using var replayChannel = GrpcChannel.ForAddress(first.Address);
                var replay = new EventStreamService.EventStreamServiceClient(replayChannel);
                Assert.Equal(
                    0,
                    (await replay.GetReplayBufferAsync(
                        new ReplayRequest { Topic = topics[0] },
                        Auth(keys.Admin))).TopicHead);

                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var publishing = Enumerable.Range(0, producers)
                    .Select(p => Task.Run(() => ProduceAsync(
                        first.Address,
                        keys.Publisher,
                        p,
                        events / producers,
                        topics,
                        sent,
                        acknowledged,
                        stop.Token)))
                    .ToArray();

                // Every topic has events once the subscriber has its point (the producers go round the topics):
                // their epochs before the kill.
                seenBefore = await Gateways.ReadAsync(subscription, subscriberPoint);
                resume = subscription.GetResumePoints()[topics[0]];
                var atPoint = Count(acknowledged);
                foreach (var topic in topics)
                {
                    epochsBefore[topic] = (await replay.GetReplayBufferAsync(
                        new ReplayRequest { Topic = topic, MaxEvents = 1 },
                        Auth(keys.Admin))).Epoch;
                    Assert.NotEmpty(epochsBefore[topic]);
                }

                var atEpochs = Count(acknowledged);
                await Wait.UntilAsync(
                    () => Count(acknowledged) >= events / 3,
                    "a third of the events acknowledged",
                    TimeSpan.FromSeconds(20));
                output.WriteLine($"acknowledged: {atPoint} at the subscriber's point, {atEpochs} after reading the "
                    + $"epochs, {Count(acknowledged)} at the kill signal");
                await first.KillAsync();
                var atKill = Count(acknowledged);
                await Task.WhenAll(publishing);
                output.WriteLine(
                    $"killed with {atKill} acknowledged; {Count(acknowledged)} acknowledged in all, {sent.Count} sent");
                Assert.True(Count(acknowledged) < events, "the kill came before the producers were done");
            }

            Assert.Equal(subscriberPoint, resume.SequenceNum);
            Assert.Equal(epochsBefore[topics[0]], resume.Epoch);
            Assert.Equal(
                Enumerable.Range(1, subscriberPoint).Select(i => (long)i),
                seenBefore.Select(e => e.SequenceNum));

            await using var second = await StartFileGatewayAsync(keys, stateDir, events);
            var stored = new Dictionary<string, (string Topic, long Sequence)>(StringComparer.Ordinal);
            var heads = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var topic in topics)
            {
                var (envelopes, head, epoch) = await ReadAllAsync(second.Address, keys.Admin, topic);
                Assert.Equal(epochsBefore[topic], epoch);
                // One contiguous run 1..head.
                Assert.Equal(head, envelopes.Count);
                Assert.Equal(
                    Enumerable.Range(1, envelopes.Count).Select(i => (long)i),
                    envelopes.Select(e => e.SequenceNum));
                foreach (var envelope in envelopes)
                {
                    Assert.True(
                        stored.TryAdd(envelope.Event.Id, (topic, envelope.SequenceNum)),
                        $"{envelope.Event.Id} stored twice");
                    Assert.Contains(envelope.Event.Id, sent);
                }

                heads[topic] = head;
            }

            foreach (var (id, topic, sequence) in acknowledged)
            {
                Assert.True(stored.TryGetValue(id, out var at), $"acknowledged {id} ({topic} #{sequence}) lost");
                Assert.Equal((topic, sequence), at);
            }

            // What the subscriber saw before the kill is there, at the same numbers.
            Assert.All(seenBefore, e => Assert.Equal((topics[0], e.SequenceNum), stored[e.Event.Id]));

            // The subscriber resumes from its point, under the epoch it had: exactly what follows, no epoch change.
            await using var resumer = ClusterKit.Client(keys.Subscriber, second.Address);
            var resumeOptions = new SubscriptionOptions { BufferCapacity = events };
            resumeOptions.Topics.Add(topics[0]);
            resumeOptions.ResumeFrom[topics[0]] = resume.SequenceNum;
            resumeOptions.TopicEpochs[topics[0]] = resume.Epoch!;
            await using var resumed = await resumer.SubscribeAsync(resumeOptions);
            var replayed = await Gateways.ReadAsync(resumed, (int)(heads[topics[0]] - resume.SequenceNum));

            Assert.Equal(LongRange(resume.SequenceNum + 1, heads[topics[0]]), replayed.Select(e => e.SequenceNum));
            Assert.All(replayed, e => Assert.Equal((topics[0], e.SequenceNum), stored[e.Event.Id]));

            // Publishing goes on from head + 1, and the resumed subscriber gets it live.
            using var channel = GrpcChannel.ForAddress(second.Address);
            var publisher = new EventPublisherService.EventPublisherServiceClient(channel);
            foreach (var topic in topics)
            {
                var response = await publisher.PublishAsync(
                    new PublishRequest { Event = Gateways.Event(topic, id: $"after-{topic}") },
                    Auth(keys.Publisher));
                Assert.Equal(heads[topic] + 1, response.SequenceNum);
            }

            var live = await Gateways.ReadAsync(resumed, 1);
            Assert.Equal(heads[topics[0]] + 1, live[0].SequenceNum);
            Assert.Equal($"after-{topics[0]}", live[0].Event.Id);
            Assert.Equal(0, resumer.Statistics.EpochChanges);
            Assert.Equal(0, resumer.Statistics.EventsLost);
        }
        finally
        {
            DeleteQuietly(stateDir);
        }
    }

    [Fact]
    public async Task Start_FileBackendFolderUnwritable_ExitsWithCode2NamingTheKey()
    {
        var dir = GatewayFixture.NewTempDir();
        try
        {
            // A folder under a regular file cannot be created, root or not.
            var file = Path.Combine(dir, "afile");
            await File.WriteAllTextAsync(file, "not a folder");
            await using var gateway = await GatewayProcess.LaunchAsync(
                new TestKeys(),
                new Dictionary<string, string>(StringComparer.Ordinal),
                FileBackendYaml(Path.Combine(file, "log")));

            var exitCode = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(20));

            Assert.True(exitCode == 2, $"exit code {exitCode}: {gateway.Output}");
            Assert.Contains("toast.grpc.broker.file.path", gateway.Error, StringComparison.Ordinal);
        }
        finally
        {
            DeleteQuietly(dir);
        }
    }

    [Fact]
    public async Task Restart_CleanStop_SequencesAndEpochsContinue()
    {
        const string topic = "clean-stop";
        var keys = new TestKeys();
        var stateDir = GatewayFixture.NewTempDir();
        try
        {
            string epoch;
            await using (var first = await StartFileGatewayAsync(keys, stateDir, 1_000))
            {
                using var channel = GrpcChannel.ForAddress(first.Address);
                var publisher = new EventPublisherService.EventPublisherServiceClient(channel);
                var responses = await PublishStreamAsync(
                    publisher,
                    keys.Publisher,
                    Enumerable.Range(0, 100).Select(i => Gateways.Event(topic, id: $"clean-{i}")));
                Assert.Equal(LongRange(1, 100), responses.Select(r => r.SequenceNum));
                epoch = (await ReplayAsync(first.Address, keys.Admin, topic, 0, 1)).Epoch;

                var exitCode = await first.StopAsync(TimeSpan.FromSeconds(20));
                Assert.True(exitCode == 0, $"exit code {exitCode}: {first.Output}");
            }

            await using var second = await StartFileGatewayAsync(keys, stateDir, 1_000);
            var (envelopes, head, epochAfter) = await ReadAllAsync(second.Address, keys.Admin, topic);
            Assert.Equal(100, head);
            Assert.Equal(epoch, epochAfter);
            Assert.Equal(Enumerable.Range(0, 100).Select(i => $"clean-{i}"), envelopes.Select(e => e.Event.Id));

            using var channel2 = GrpcChannel.ForAddress(second.Address);
            var next = await new EventPublisherService.EventPublisherServiceClient(channel2)
                .PublishAsync(
                    new PublishRequest { Event = Gateways.Event(topic, id: "clean-100") },
                    Auth(keys.Publisher));
            Assert.Equal(101, next.SequenceNum);
            Assert.Equal(epoch, (await ReplayAsync(second.Address, keys.Admin, topic, 100, 1)).Epoch);
        }
        finally
        {
            DeleteQuietly(stateDir);
        }
    }

    /// <summary>A gateway process on the file backend (default folder <c>&lt;state_dir&gt;/log</c>, fsync always) whose
    /// rings hold <paramref name="replaySize"/> events per topic.</summary>
    private static Task<GatewayProcess> StartFileGatewayAsync(TestKeys keys, string stateDir, int replaySize) =>
        GatewayProcess.StartAsync(keys, "gw-file", new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["replay_size"] = replaySize.ToString(CultureInfo.InvariantCulture),
            ["max_in_flight"] = "5000",
        }, FileBackendYaml(path: null), stateDir);

    private static string FileBackendYaml(string? path) =>
        "      backend: file\n      file:\n        fsync: always" + (path is null ? "" : $"\n        path: \"{path}\"");

    /// <summary>One producer: its own channel and PublishStream, events <c>p{n}-{i}</c> over the topics in turn;
    /// records what it sent and what was acknowledged, and stops when the gateway goes away.</summary>
    private static async Task ProduceAsync(Uri address, string key, int producer, int count, string[] topics,
        HashSet<string> sent, List<(string Id, string Topic, long Sequence)> acknowledged, CancellationToken token)
    {
        using var channel = GrpcChannel.ForAddress(address);
        var client = new EventPublisherService.EventPublisherServiceClient(channel);
        using var call = client.PublishStream(Auth(key, token));
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var response in call.ResponseStream.ReadAllAsync(token))
                {
                    lock (acknowledged)
                    {
                        acknowledged.Add((response.Id, response.Topic, response.SequenceNum));
                    }
                }
            }
            catch (RpcException)
            {
                // The gateway was killed.
            }
        }, CancellationToken.None);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var id = $"p{producer}-{i}";
                lock (sent)
                {
                    sent.Add(id);
                }

                await call.RequestStream.WriteAsync(
                    new PublishRequest { Event = Gateways.Event(topics[i % topics.Length], id: id) },
                    token);
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // The gateway was killed.
        }

        await reading;
    }

    private static async Task<List<PublishResponse>> PublishStreamAsync(
        EventPublisherService.EventPublisherServiceClient client,
        string key,
        IEnumerable<EventData> events)
    {
        using var call = client.PublishStream(Auth(key));
        var reading = Task.Run(async () =>
        {
            var responses = new List<PublishResponse>();
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                responses.Add(response);
            }

            return responses;
        });
        foreach (var e in events)
        {
            await call.RequestStream.WriteAsync(new PublishRequest { Event = e });
        }

        await call.RequestStream.CompleteAsync();
        return await reading;
    }

    private static async Task<ReplayResponse> ReplayAsync(Uri address, string key, string topic, long from, int max)
    {
        using var channel = GrpcChannel.ForAddress(address);
        var client = new EventStreamService.EventStreamServiceClient(channel);
        return await client.GetReplayBufferAsync(
            new ReplayRequest { Topic = topic, FromSequenceNum = from, MaxEvents = max },
            Auth(key));
    }

    /// <summary>The whole ring of <paramref name="topic"/>, page by page (bounded by the head).</summary>
    private static async Task<(List<EventEnvelope> Events, long Head, string Epoch)> ReadAllAsync(
        Uri address,
        string key,
        string topic)
    {
        using var channel = GrpcChannel.ForAddress(address);
        var client = new EventStreamService.EventStreamServiceClient(channel);
        var envelopes = new List<EventEnvelope>();
        var response = await client.GetReplayBufferAsync(
            new ReplayRequest { Topic = topic, FromSequenceNum = 0, MaxEvents = ReplayPage },
            Auth(key));
        var head = response.TopicHead;
        var epoch = response.Epoch;
        envelopes.AddRange(response.Events);
        for (var page = 0; response.HasMore && response.Events.Count > 0 && page <= head / ReplayPage; page++)
        {
            response = await client.GetReplayBufferAsync(
                new ReplayRequest
                {
                    Topic = topic,
                    FromSequenceNum = envelopes[^1].SequenceNum,
                    MaxEvents = ReplayPage,
                },
                Auth(key));
            Assert.Equal(head, response.TopicHead);
            Assert.Equal(epoch, response.Epoch);
            envelopes.AddRange(response.Events);
        }

        Assert.False(response.HasMore, $"{topic}: more pages than the head allows");
        return (envelopes, head, epoch);
    }

    private static CallOptions Auth(string key, CancellationToken token = default) =>
        new(new Metadata { { "authorization", $"Bearer {key}" } }, cancellationToken: token);

    private static int Count<T>(List<T> list)
    {
        lock (list)
        {
            return list.Count;
        }
    }

    private static IEnumerable<long> LongRange(long first, long last)
    {
        for (var i = first; i <= last; i++)
        {
            yield return i;
        }
    }

    private static void DeleteQuietly(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }
}
