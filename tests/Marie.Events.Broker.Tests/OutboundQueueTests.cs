using Marie.Events.Broker.Connections;

namespace Marie.Events.Broker.Tests;

/// <summary>The connection's write queue: many writers, one reader, one reusable waiter.</summary>
public sealed class OutboundQueueTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static Outbound Item(int n) => new(OutboundKind.Notice, Attempt: n);

    [Fact]
    public void TryRead_Empty_False()
    {
        var queue = new OutboundQueue();

        Assert.False(queue.TryRead(out _));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void TryRead_WritesAcrossGrowthAndWrapAround_FirstInFirstOut()
    {
        var queue = new OutboundQueue();
        var read = new List<int>();
        var written = 0;
        // Three in, two out, repeatedly: the ring wraps around while it grows.
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.True(queue.TryWrite(Item(written++)));
            }

            for (var i = 0; i < 2; i++)
            {
                Assert.True(queue.TryRead(out var item));
                read.Add(item.Attempt);
            }
        }

        while (queue.TryRead(out var item))
        {
            read.Add(item.Attempt);
        }

        Assert.Equal(Enumerable.Range(0, written), read);
    }

    [Fact]
    public async Task WaitToReadAsync_ItemWrittenWhileWaiting_CompletesTrue()
    {
        var queue = new OutboundQueue();
        var wait = queue.WaitToReadAsync(CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);

        queue.TryWrite(Item(1));

        Assert.True(await wait.WaitAsync(Timeout));
        Assert.True(queue.TryRead(out var item));
        Assert.Equal(1, item.Attempt);
    }

    [Fact]
    public async Task WaitToReadAsync_TokenCancelled_ThrowsThenWaitsAgain()
    {
        var queue = new OutboundQueue();
        using var first = new CancellationTokenSource();
        var wait = queue.WaitToReadAsync(first.Token).AsTask();

        await first.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Timeout));
        var again = queue.WaitToReadAsync(CancellationToken.None).AsTask();
        queue.TryWrite(Item(2));
        Assert.True(await again.WaitAsync(Timeout));
    }

    [Fact]
    public async Task WaitToReadAsync_EarlierTokenCancelledLater_LaterWaitUnaffected()
    {
        var queue = new OutboundQueue();
        using var earlier = new CancellationTokenSource();
        var wait = queue.WaitToReadAsync(earlier.Token).AsTask();
        queue.TryWrite(Item(1));
        Assert.True(await wait.WaitAsync(Timeout));
        queue.TryRead(out _);
        var later = queue.WaitToReadAsync(CancellationToken.None).AsTask();

        await earlier.CancelAsync();

        Assert.False(later.IsCompleted);
        queue.TryWrite(Item(2));
        Assert.True(await later.WaitAsync(Timeout));
    }

    [Fact]
    public async Task WaitToReadAsync_AlreadyCancelled_Cancelled()
    {
        var queue = new OutboundQueue();
        queue.TryWrite(Item(1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => queue.WaitToReadAsync(new CancellationToken(canceled: true)).AsTask());
    }

    [Fact]
    public async Task CompleteAndClear_ReaderWaiting_FalseAndNothingMoreAccepted()
    {
        var queue = new OutboundQueue();
        var wait = queue.WaitToReadAsync(CancellationToken.None).AsTask();

        queue.CompleteAndClear();

        Assert.False(await wait.WaitAsync(Timeout));
        Assert.False(queue.TryWrite(Item(1)));
        Assert.False(await queue.WaitToReadAsync(CancellationToken.None));
    }

    [Fact]
    public void CompleteAndClear_ItemsQueued_Dropped()
    {
        var queue = new OutboundQueue();
        queue.TryWrite(Item(1));
        queue.TryWrite(Item(2));

        queue.CompleteAndClear();

        Assert.Equal(0, queue.Count);
        Assert.False(queue.TryRead(out _));
    }

    [Fact]
    public async Task TryWrite_FourWritersOneReader_EveryItemOnceInEachWritersOrder()
    {
        const int writers = 4;
        const int perWriter = 20_000;
        var queue = new OutboundQueue();
        var seen = new List<int>[writers];
        for (var w = 0; w < writers; w++)
        {
            seen[w] = [];
        }

        var reader = Task.Run(async () =>
        {
            var total = 0;
            while (total < writers * perWriter && await queue.WaitToReadAsync(CancellationToken.None))
            {
                while (queue.TryRead(out var item))
                {
                    seen[item.Attempt / perWriter].Add(item.Attempt % perWriter);
                    total++;
                }
            }
        });
        var producers = Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < perWriter; i++)
            {
                queue.TryWrite(Item(w * perWriter + i));
            }
        }));

        await Task.WhenAll(producers).WaitAsync(Timeout);
        await reader.WaitAsync(Timeout);

        foreach (var list in seen)
        {
            Assert.Equal(Enumerable.Range(0, perWriter), list);
        }
    }

    [Fact]
    public void TrimIfEmpty_AfterABurstDrained_RingReleased()
    {
        var queue = new OutboundQueue();
        for (var i = 0; i < 1000; i++)
        {
            queue.TryWrite(Item(i));
        }

        while (queue.TryRead(out _))
        {
        }

        Assert.True(queue.Capacity >= 1000);
        queue.TrimIfEmpty();

        Assert.Equal(0, queue.Capacity);
        Assert.True(queue.TryWrite(Item(1)));
        Assert.True(queue.TryRead(out var item));
        Assert.Equal(1, item.Attempt);
    }

    [Fact]
    public void TrimIfEmpty_ItemsQueued_RingKept()
    {
        var queue = new OutboundQueue();
        for (var i = 0; i < 1000; i++)
        {
            queue.TryWrite(Item(i));
        }

        queue.TrimIfEmpty();

        Assert.Equal(1000, queue.Count);
        Assert.True(queue.TryRead(out var first));
        Assert.Equal(0, first.Attempt);
    }

    [Fact]
    public void TrimIfEmpty_SmallRing_Kept()
    {
        var queue = new OutboundQueue();
        for (var i = 0; i < 40; i++)
        {
            queue.TryWrite(Item(i));
        }

        while (queue.TryRead(out _))
        {
        }

        var capacity = queue.Capacity;
        queue.TrimIfEmpty();

        Assert.Equal(capacity, queue.Capacity);
    }
}
