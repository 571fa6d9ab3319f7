using Marie.Events.Broker;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// The Toast registry (as in Marie-AI): hands every published event to the handlers registered for its name (an
/// event-name prefix, or <c>*</c> for all), in priority order. Each handler is handed the event without waiting for the
/// ones before it, and each keeps its own queue, so a slow or failing handler does not hold the others back; a handler
/// that fails is logged and counted, and the others still get the event.
/// </summary>
internal sealed class ToastRegistry(ILogger<ToastRegistry> logger)
{
    private readonly Lock _registering = new();
    private ToastRegistration[] _registrations = [];
    private long _dispatched;
    private long _unhandled;
    private long _handlerFailures;

    /// <summary>The registrations, in the order events are handed to them.</summary>
    public IReadOnlyList<ToastRegistration> Registrations => Volatile.Read(ref _registrations);

    /// <summary>Events dispatched.</summary>
    public long Dispatched => Interlocked.Read(ref _dispatched);

    /// <summary>Events no handler was registered for.</summary>
    public long Unhandled => Interlocked.Read(ref _unhandled);

    /// <summary>Times a handler failed on an event (threw something other than a rejection).</summary>
    public long HandlerFailures => Interlocked.Read(ref _handlerFailures);

    /// <summary>Registers <paramref name="handler"/> for the event names matching <paramref name="events"/>
    /// (<c>*</c> = all; another entry is a prefix of the name, a trailing <c>*</c> allowed: <c>extract.</c> and
    /// <c>extract.*</c> are the same). Lower <paramref name="priority"/> first; equal priorities in registration
    /// order.</summary>
    public void Register(IToastHandler handler, IReadOnlyList<string> events, int priority)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(events);
        lock (_registering)
        {
            var registration = new ToastRegistration(handler, events, priority, _registrations.Length);
            _registrations = [.. _registrations.Append(registration).OrderBy(r => r.Priority).ThenBy(r => r.Order)];
        }
    }

    /// <summary>
    /// Hands the event, validated and normalised already (<c>PublishAdmission</c>: topic, id, timestamp), to every
    /// matching handler, so every handler sees the same event. Completes when each has accepted it (or failed, logged).
    /// A handler's refusal (<see cref="ToastRejectedException"/>, the first in priority order) is thrown after every
    /// handler had its turn.
    /// </summary>
    /// <exception cref="ToastRejectedException">A handler refused the event.</exception>
    public async ValueTask<ToastDispatch> DispatchAsync(EventData evt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        Interlocked.Increment(ref _dispatched);
        var registrations = Volatile.Read(ref _registrations);
        var count = 0;
        ToastRegistration? first = null;
        foreach (var registration in registrations)
        {
            if (registration.Matches(evt.Event))
            {
                count++;
                first ??= registration;
            }
        }

        if (first is null)
        {
            Interlocked.Increment(ref _unhandled);
            ToastLog.NoHandler(logger, evt.Id, evt.Event);
            return new ToastDispatch(evt.Id, evt.ApiKey, null);
        }

        Outcome outcome;
        if (count == 1)
        {
            // The usual set-up (the gRPC handler for every event): no arrays, no allocation when it accepts at once.
            outcome = await SettleAsync(
                first,
                Invoke(first.Handler, evt, cancellationToken),
                evt,
                cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Hand the event to every handler before waiting for any: one waiting for room holds back no other.
            var settling = new Task<Outcome>[count];
            var n = 0;
            foreach (var registration in registrations)
            {
                if (registration.Matches(evt.Event))
                {
                    settling[n++] = SettleAsync(
                        registration,
                        Invoke(registration.Handler, evt, cancellationToken),
                        evt,
                        cancellationToken).AsTask();
                }
            }

            outcome = default;
            foreach (var task in settling)
            {
                var one = await task.ConfigureAwait(false);
                outcome = new Outcome(
                    outcome.Filed ?? one.Filed,
                    outcome.Rejection ?? one.Rejection,
                    outcome.Canceled || one.Canceled);
            }
        }

        if (outcome.Rejection is not null)
        {
            throw outcome.Rejection;
        }

        if (outcome.Canceled)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        return new ToastDispatch(evt.Id, evt.ApiKey, outcome.Filed);
    }

    /// <summary>Waits for one handler's answer: a refusal or cancellation is returned, any other failure logged and
    /// counted (the other handlers still had the event).</summary>
    private async ValueTask<Outcome> SettleAsync(
        ToastRegistration registration,
        ValueTask<ToastReceipt> handing,
        EventData evt,
        CancellationToken cancellationToken)
    {
        try
        {
            var receipt = await handing.ConfigureAwait(false);
            return new Outcome(receipt.Filed, null, false);
        }
        catch (ToastRejectedException ex)
        {
            return new Outcome(null, ex, false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new Outcome(null, null, true);
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _handlerFailures);
            ToastLog.HandlerFailed(logger, registration.Handler.Name, evt.Id, ex);
            return default;
        }
    }

    /// <summary>What the handlers made of an event: where the broker files it, the first refusal, a
    /// cancellation.</summary>
    private readonly record struct Outcome(
        Task<PublishResult>? Filed,
        ToastRejectedException? Rejection,
        bool Canceled);

    /// <summary>A handler that throws synchronously fails its own task only.</summary>
    private static ValueTask<ToastReceipt> Invoke(
        IToastHandler handler,
        EventData evt,
        CancellationToken cancellationToken)
    {
        try
        {
            return handler.HandleAsync(evt, cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<ToastReceipt>(ex);
        }
    }
}

/// <summary>One handler's registration.</summary>
/// <param name="Handler">The handler.</param>
/// <param name="Events">Event-name prefixes, or <c>*</c>.</param>
/// <param name="Priority">Lower first.</param>
/// <param name="Order">Registration order, for equal priorities.</param>
internal sealed record ToastRegistration(IToastHandler Handler, IReadOnlyList<string> Events, int Priority, int Order)
{
    /// <summary>The prefixes, made once (<c>*</c> is the empty prefix: every name starts with it).</summary>
    private readonly string[] _prefixes = [
        .. Events.Select(pattern => pattern.EndsWith('*') ? pattern[..^1] : pattern)];

    /// <summary>True when <paramref name="eventName"/> matches one of <see cref="Events"/>.</summary>
    public bool Matches(string eventName)
    {
        foreach (var prefix in _prefixes)
        {
            if (eventName.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>A dispatched event.</summary>
/// <param name="Id">Its id (generated when the producer left it empty).</param>
/// <param name="Topic">Its topic (<c>api_key</c>).</param>
/// <param name="Filed">Completes with where the broker filed it; null when no handler files with the broker
/// (<c>toast.grpc.enabled: false</c>, or no handler for the event).</param>
internal readonly record struct ToastDispatch(string Id, string Topic, Task<PublishResult>? Filed);
