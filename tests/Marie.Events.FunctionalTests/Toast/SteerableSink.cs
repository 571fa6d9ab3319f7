using Marie.Events.Broker;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Gateway.Toast;
using Marie.Events.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.FunctionalTests.Toast;

/// <summary>The real broker behind a switch: attempts fail while <see cref="Failing"/>, or wait while held.</summary>
internal sealed class SteerableSink : IEventSink
{
    private readonly Lock _gate = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _failureWaiters = [];
    private readonly List<(int Count, TaskCompletionSource Done)> _heldWaiters = [];
    private TaskCompletionSource _release = Released();
    private BrokerEventSink? _inner;
    private int _failures;
    private int _held;

    public volatile bool Failing;

    public void Install(IServiceCollection services) => services.AddSingleton<IEventSink>(sp =>
    {
        _inner = new BrokerEventSink(sp.GetRequiredService<GrpcEventBroker>());
        return this;
    });

    public void Hold() => _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _release.TrySetResult();

    public Task WaitForFailuresAsync(int count) => WaitAsync(_failureWaiters, () => _failures, count);

    public Task WaitForHeldAsync(int count) => WaitAsync(_heldWaiters, () => _held, count);

    public async ValueTask<PublishResult> PublishAsync(EventData evt, CancellationToken cancellationToken)
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
            throw new IOException("broker backend down (scripted)");
        }

        return await _inner!.PublishAsync(evt, cancellationToken);
    }

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
