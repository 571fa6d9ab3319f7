namespace Marie.Events.Client.Tests.Infrastructure;

/// <summary>Waiting for a condition, with a timeout (never a fixed delay).</summary>
internal static class Wait
{
    /// <summary>The longest a test waits for something that should happen.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after the
    /// timeout.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            // Polling interval of the condition, not a wait for it.
            await Task.Delay(5);
        }
    }

    /// <summary>Polls an async condition.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Timeout);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }
}

/// <summary>Enumerator helpers with a timeout.</summary>
internal static class EnumeratorExtensions
{
    /// <summary><see cref="IAsyncEnumerator{T}.MoveNextAsync"/>, failing after <see cref="Wait.Timeout"/>.</summary>
    public static Task<bool> NextAsync<T>(this IAsyncEnumerator<T> enumerator) =>
        enumerator.MoveNextAsync().AsTask().WaitAsync(Wait.Timeout);
}
