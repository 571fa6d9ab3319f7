using Marie.Events.Broker;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Marie.Events.Gateway.Hosting;

/// <summary><c>GET /internal/subscriptions</c> on the admin port: every open subscription on this gateway with its
/// position (lag, in flight, oldest unacknowledged age, redeliveries), as snake_case JSON. Needs
/// <c>Authorization: Bearer &lt;admin key&gt;</c>.</summary>
internal static class AdminSubscriptionsEndpoint
{
    public const string Path = "/internal/subscriptions";

    public static IResult Handle(HttpContext http)
    {
        var (admin, refusal) = AdminAuth.Check(http, typeof(AdminSubscriptionsEndpoint).FullName!);
        if (refusal is not null)
        {
            return refusal;
        }

        var broker = http.RequestServices.GetRequiredService<GrpcEventBroker>();
        var response = SubscriptionsResponse.From(broker.DescribeSubscriptions(admin!.Access));
        return Results.Json(response, GatewayJsonContext.Default.SubscriptionsResponse);
    }
}

/// <summary>The body of <c>GET /internal/subscriptions</c>.</summary>
internal sealed record SubscriptionsResponse(IReadOnlyList<SubscriptionResponse> Subscriptions)
{
    public static SubscriptionsResponse From(IReadOnlyList<SubscriptionSnapshot> snapshots) =>
        new([.. snapshots.Select(SubscriptionResponse.From)]);
}

/// <summary>One subscription: <c>id</c> (the client's), <c>connection_id</c> (its stream), <c>key_name</c>,
/// <c>requested_topics</c> (as asked, <c>*</c> included), <c>in_flight</c>, <c>lag</c> (largest over its topics),
/// <c>oldest_unacked_age_s</c> (null: nothing in flight), <c>redeliveries</c> (since it was opened) and
/// <c>topics</c>, its position on each topic it is attached to.</summary>
internal sealed record SubscriptionResponse(
    string Id,
    string ConnectionId,
    string KeyName,
    IReadOnlyList<string> RequestedTopics,
    int InFlight,
    long Lag,
    double? OldestUnackedAgeS,
    long Redeliveries,
    IReadOnlyList<SubscriptionTopicResponse> Topics)
{
    public static SubscriptionResponse From(SubscriptionSnapshot s) => new(
        s.Id,
        s.ConnectionId,
        s.Owner,
        s.RequestedTopics,
        s.InFlight,
        s.Lag,
        s.OldestUnackedAge?.TotalSeconds,
        s.Redelivered,
        [.. s.Topics.Select(SubscriptionTopicResponse.From)]);
}

/// <summary>A subscription's position on one topic: the topic's <c>head</c>, the <c>acked_through</c> point,
/// <c>lag</c> between them, <c>in_flight</c> and <c>oldest_unacked_age_s</c>.</summary>
internal sealed record SubscriptionTopicResponse(
    string Topic,
    long Head,
    long AckedThrough,
    long Lag,
    int InFlight,
    double? OldestUnackedAgeS)
{
    public static SubscriptionTopicResponse From(SubscriptionTopicSnapshot t) => new(
        t.Topic,
        t.Head,
        t.AckedThrough,
        t.Lag,
        t.InFlight,
        t.OldestUnackedAge?.TotalSeconds);
}
