using Marie.Events.Client.Internal;

namespace Marie.Events.Client.Tests.Unit;

public sealed class ReconnectBackoffTests
{
    private static readonly TimeSpan Initial = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(2);

    [Fact]
    public void Delay_NoJitter_DoublesPerAttemptUpToMax()
    {
        var backoff = new ReconnectBackoff(Initial, Max, jitter: 0.2, random: () => 0.5);

        var delays = Enumerable.Range(0, 7).Select(backoff.Delay).ToArray();

        Assert.Equal(
            new[] { 100, 200, 400, 800, 1600, 2000, 2000 },
            delays.Select(d => (int)d.TotalMilliseconds).ToArray());
    }

    [Fact]
    public void Delay_RandomExtremes_StayWithinJitterSpreadAndMax()
    {
        var low = new ReconnectBackoff(Initial, Max, jitter: 0.2, random: () => 0.0);
        var high = new ReconnectBackoff(Initial, Max, jitter: 0.2, random: () => 0.999999);

        Assert.Equal(80, low.Delay(0).TotalMilliseconds, precision: 3);
        Assert.Equal(120, high.Delay(0).TotalMilliseconds, precision: 0);
        Assert.Equal(1280, low.Delay(4).TotalMilliseconds, precision: 3);
        // 1600 ms + 20 % would be 1920 ms; at 2 doublings more, 6400 ms + 20 % is capped at the max.
        Assert.Equal(Max, high.Delay(6));
    }

    [Fact]
    public void Delay_HugeAttemptNumber_DoesNotOverflow()
    {
        var backoff = new ReconnectBackoff(Initial, Max, jitter: 0.2, random: () => 0.5);

        Assert.Equal(Max, backoff.Delay(int.MaxValue));
    }

    [Fact]
    public void Delay_RealRandom_DifferentClientsSpread()
    {
        var backoff = new ReconnectBackoff(Initial, Max, jitter: 0.5, random: Random.Shared.NextDouble);

        var delays = Enumerable.Range(0, 50).Select(_ => backoff.Delay(1)).ToHashSet();

        Assert.True(delays.Count > 1, "jitter spreads the delays");
        Assert.All(delays, d => Assert.InRange(d.TotalMilliseconds, 100, 300));
    }
}
