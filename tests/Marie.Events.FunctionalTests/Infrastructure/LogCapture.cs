using Microsoft.Extensions.Logging;

namespace Marie.Events.FunctionalTests.Infrastructure;

/// <summary>One captured log entry.</summary>
public sealed record CapturedLogEntry(string Category, LogLevel Level, EventId EventId, string Message);

/// <summary>Captures the gateway's log entries (after its level filter) and lets a test wait for one.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly Lock _gate = new();
    private readonly List<CapturedLogEntry> _entries = [];
    private readonly List<(
        Func<CapturedLogEntry, bool> Match,
        TaskCompletionSource<CapturedLogEntry> Done)> _waiters = [];

    public IReadOnlyList<CapturedLogEntry> Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries];
            }
        }
    }

    /// <summary>Waits until an entry matches (one already captured counts), failing after
    /// <paramref name="timeout"/>.</summary>
    public async Task<CapturedLogEntry> WaitForAsync(Func<CapturedLogEntry, bool> match, TimeSpan timeout)
    {
        TaskCompletionSource<CapturedLogEntry> done;
        lock (_gate)
        {
            var existing = _entries.FirstOrDefault(match);
            if (existing is not null)
            {
                return existing;
            }

            done = new TaskCompletionSource<CapturedLogEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, done));
        }

        try
        {
            return await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"No matching log entry within {timeout}. " +
                $"Captured:\n{string.Join('\n', Entries.Select(e => $"{e.Level} [{e.EventId.Id}] {e.Message}"))}");
        }
    }

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(CapturedLogEntry entry)
    {
        List<TaskCompletionSource<CapturedLogEntry>> matched = [];
        lock (_gate)
        {
            _entries.Add(entry);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(entry))
                {
                    matched.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var done in matched)
        {
            done.TrySetResult(entry);
        }
    }

    private sealed class CapturingLogger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(
            LogLevel logLevel,
            EventId eventId,
            TState state,
            Exception? exception,
            Func<TState, Exception?, string> formatter) =>
            owner.Add(new CapturedLogEntry(category, logLevel, eventId, formatter(state, exception)));
    }
}
