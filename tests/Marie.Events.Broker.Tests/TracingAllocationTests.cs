namespace Marie.Events.Broker.Tests;

/// <summary>Tracing's cost for events without a trace context: with a listener on the source, a delivery still
/// allocates nothing (the writer and ack paths check the event, not the listener, first).</summary>
public sealed class TracingAllocationTests
{
    [Fact]
    public async Task Delivery_ListenerButEventWithoutContext_NothingAllocatedPerDelivery()
    {
        using var spans = new SpanCollector();

        var one = await BytesPerEventAsync(subscriptions: 1);
        var many = await BytesPerEventAsync(subscriptions: 20);

        // As AllocationTests: less than a byte per extra delivery means nothing is allocated per delivery.
        Assert.True((many - one) / 19 < 1.0, $"bytes per event: {one:F1} with 1 subscription, {many:F1} with 20");
    }

    /// <summary>As <see cref="AllocationTests"/>, with a small event without a trace context.</summary>
    private static Task<double> BytesPerEventAsync(int subscriptions) =>
        AllocationTests.BytesPerEventAsync(subscriptions, Ev.Make("a"), events: 2_000);
}
