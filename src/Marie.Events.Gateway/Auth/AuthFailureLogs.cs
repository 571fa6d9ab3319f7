using Marie.Events.Gateway.Logging;

namespace Marie.Events.Gateway.Auth;

/// <summary>
/// Keeps a flood of failed authentications from flooding the log: each kind of failure line is written at most
/// <see cref="PerSecond"/> times a second; the failures not written are counted and reported in one line with the
/// next one written.
/// </summary>
internal sealed class AuthFailureLogs(TimeProvider time)
{
    /// <summary>Failure lines written per second and kind: enough to see an attack begin, few enough that a flood
    /// of bad keys costs the log nothing.</summary>
    public const int PerSecond = 10;

    /// <summary>gRPC calls (<c>gRPC auth failed: invalid or missing token</c>).</summary>
    public LogThrottle Grpc { get; } = new(time, PerSecond);

    /// <summary>Admin API requests.</summary>
    public LogThrottle Admin { get; } = new(time, PerSecond);

    /// <summary>Failed authentications so far, gRPC and admin API (each one asks its throttle once).</summary>
    public long Failures => Grpc.Calls + Admin.Calls;
}
