using Marie.Events.Broker.Storage;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.FunctionalTests.Toast;

/// <summary>The real memory backend behind a switch: appends fail while <see cref="Failing"/>, or wait while
/// held.</summary>
internal sealed class SteerableSink : IEventBackend
{
    private readonly MemoryEventBackend _inner = new();
    private readonly Lock _gate = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _failureWaiters = [];
    private readonly List<(int Count, TaskCompletionSource Done)> _heldWaiters = [];
    private TaskCompletionSource _release = Released();
    private int _failures;
    private int _held;

    public volatile bool Failing;

    public void Install(IServiceCollection services) => services.AddSingleton<IEventBackend>(this);

    public void Hold() => _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _release.TrySetResult();

    public Task WaitForFailuresAsync(int count) => WaitAsync(_failureWaiters, () => _failures, count);

    public Task WaitForHeldAsync(int count) => WaitAsync(_heldWaiters, () => _held, count);

    public string Name => "steerable";

    public string InitialEpoch(string topic) => _inner.InitialEpoch(topic);

    public Task<BackendLoad> StartAsync(IEventBackendListener listener, CancellationToken cancellationToken) =>
        _inner.StartAsync(listener, cancellationToken);

    public async ValueTask<AppendResult> AppendAsync(
        string topic,
        IReadOnlyList<EventData> events,
        DateTimeOffset publishedAt,
        CancellationToken cancellationToken)
    {
        var release = _release.Task;
        if (!release.IsCompleted)
        {
            Bump(ref _held, _heldWaiters);
            await release.WaitAsync(cancellationToken);
        }

        if (Failing)
        {
            Bump(ref _failures, _failureWaiters);
            throw new BackendException("broker backend down (scripted)");
        }

        return await _inner.AppendAsync(topic, events, publishedAt, cancellationToken);
    }

    public ValueTask<IReadOnlyList<BackendEvent>> ReadAsync(
        string topic,
        long first,
        long last,
        CancellationToken cancellationToken) =>
        _inner.ReadAsync(topic, first, last, cancellationToken);

    public ValueTask<IReadOnlyDictionary<string, BackendTopic>> DescribeAsync(
        IReadOnlyCollection<string> topics,
        CancellationToken cancellationToken) =>
        _inner.DescribeAsync(topics, cancellationToken);

    public ValueTask<IReadOnlyList<string>> ListTopicsAsync(CancellationToken cancellationToken) =>
        _inner.ListTopicsAsync(cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Bump(ref int counter, List<(int Count, TaskCompletionSource Done)> waiters)
    {
        lock (_gate)
        {
            var now = ++counter;
            foreach (var waiter in waiters.Where(w => w.Count <= now))
            {
                waiter.Done.TrySetResult();
            }
        }
    }

    private Task WaitAsync(List<(int Count, TaskCompletionSource Done)> waiters, Func<int> current, int count)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (current() >= count)
            {
                return Task.CompletedTask;
            }

            waiters.Add((count, done));
        }

        return done.Task.WaitAsync(GatewayFixture.Timeout);
    }

    private static TaskCompletionSource Released()
    {
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        released.SetResult();
        return released;
    }
}
