using Marie.Events.Gateway.Logging;
using Marie.Events.Gateway.Auth;
using Microsoft.Extensions.Time.Testing;

namespace Marie.Events.Gateway.Tests;

/// <summary>At most N failure lines a second; the rest counted and reported with the next line written.</summary>
public sealed class LogThrottleTests
{
    [Fact]
    public void TryEnter_OverPerSecond_SuppressedThenCountedInNextWindow()
    {
        var time = new FakeTimeProvider();
        var throttle = new LogThrottle(time, perSecond: 3);

        var first = Enumerable.Range(0, 10).Select(_ => throttle.TryEnter(out long _)).ToList();
        time.Advance(TimeSpan.FromMilliseconds(999));
        var stillSameWindow = throttle.TryEnter(out _);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var nextWindow = throttle.TryEnter(out var suppressed);
        var afterReport = throttle.TryEnter(out var suppressedAgain);

        Assert.Equal(3, first.Count(written => written));
        Assert.False(stillSameWindow);
        Assert.True(nextWindow);
        Assert.Equal(8, suppressed);
        Assert.True(afterReport);
        Assert.Equal(0, suppressedAgain);
    }
}
