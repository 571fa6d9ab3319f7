using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.DeadLetters;

/// <summary>The gateway's <c>DeadLetterService</c> client.</summary>
internal static class DeadLetterClient
{
    public static DeadLetterService.DeadLetterServiceClient For(GatewayFixture gateway) => new(gateway.Channel);
}
