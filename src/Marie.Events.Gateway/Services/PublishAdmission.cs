using Grpc.Core;
using Marie.Events.Broker.Limits;
using Marie.Events.Gateway.Auth;
using Marie.Events.Gateway.Configuration;
using Marie.Events.Gateway.Logging;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Services;

/// <summary>
/// The one place an incoming event is validated and normalised, before anything else sees it: an event and a topic
/// are required; a raw API key in <c>api_key</c> becomes its key's name (an unknown key-shaped value is refused,
/// so a key never becomes a topic); the caller must be allowed to publish to the topic; the topic and id fit
/// <c>gateway.limits.*</c>; an empty id gets a new one and a zero timestamp the current unix second; the trace context
/// is the event's own or the call's metadata, kept only when well-formed (<see cref="PublishTraceContext"/>). The Toast
/// registry, its handlers and the broker take the event as it leaves here.
/// </summary>
internal sealed class PublishAdmission(
    APIKeyManager keys,
    IOptions<LimitsOptions> limits,
    TimeProvider time,
    ILogger<PublishAdmission> logger)
{
    public const string UnknownKeyMessage = "event.api_key has the form of an API key the gateway does not know: use " +
        "a configured key or a topic name";

    /// <summary>Validates and normalises <paramref name="request"/>'s event in place for
    /// <paramref name="caller"/>.</summary>
    /// <param name="request">The request.</param>
    /// <param name="caller">Who sent it.</param>
    /// <param name="index">Its index in a <c>PublishStream</c> (named in the refusal), or null.</param>
    /// <param name="trace">The call's trace context metadata (none: default).</param>
    /// <exception cref="RpcException">INVALID_ARGUMENT, PERMISSION_DENIED or RESOURCE_EXHAUSTED (a limit).</exception>
    public void Admit(PublishRequest request, ApiKeyIdentity caller, int? index, PublishTraceContext trace = default)
    {
        var evt = request.Event ?? throw GrpcStatusMapper.Refuse(
            StatusCode.InvalidArgument,
            "event is required",
            index);
        if (evt.ApiKey.Length == 0)
        {
            throw GrpcStatusMapper.Refuse(StatusCode.InvalidArgument, "event.api_key (the topic) is required", index);
        }

        if (ApiKeyFormat.IsWellFormed(evt.ApiKey))
        {
            if (!keys.TryFindByKey(evt.ApiKey, out var owner))
            {
                throw GrpcStatusMapper.Refuse(StatusCode.InvalidArgument, UnknownKeyMessage, index);
            }

            evt.ApiKey = owner.Name;
        }

        if (!caller.Access.CanSee(evt.ApiKey))
        {
            SecurityLog.PublishDenied(logger, caller.Name, evt.ApiKey);
            throw GrpcStatusMapper.Refuse(
                StatusCode.PermissionDenied,
                $"this key may not publish to topic '{evt.ApiKey}'",
                index);
        }

        var limit = limits.Value;
        if (evt.ApiKey.Length > limit.MaxStringLength)
        {
            throw GrpcStatusMapper.ToRpcException(
                BrokerLimitException.Create(
                    LimitNames.MaxStringLength,
                    limit.MaxStringLength,
                    "the topic name is too long"),
                index);
        }

        if (evt.Id.Length > limit.MaxIdLength)
        {
            throw GrpcStatusMapper.ToRpcException(
                BrokerLimitException.Create(LimitNames.MaxIdLength, limit.MaxIdLength, "the event id is too long"),
                index);
        }

        if (evt.Id.Length == 0)
        {
            evt.Id = Guid.NewGuid().ToString("N");
        }

        if (evt.Timestamp == 0)
        {
            evt.Timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        }

        trace.ApplyTo(evt);
    }
}
