using Marie.Events.Client;
using Marie.Events.Protocol;

namespace Marie.Events.Cli.Commands;

/// <summary>
/// The status lines <c>subscribe</c> writes to standard error: the subscription, the gateway's notices, and the
/// reconnects. Called from the client's loops (its event handlers), so each line is written whole under a lock;
/// notices that arrive before the subscription line is out wait for it, to keep the order the gateway sent them in.
/// </summary>
internal sealed class StatusLines(TextWriter error)
{
    private readonly Lock _gate = new();
    private readonly List<string> _early = [];
    private bool _subscribed;
    private bool _connected;
    private bool _lost;

    /// <summary>The subscription is confirmed: its line, then any notice that came before it.</summary>
    public void Subscribed(string line)
    {
        lock (_gate)
        {
            error.WriteLine(line);
            foreach (var early in _early)
            {
                error.WriteLine(early);
            }

            _early.Clear();
            _subscribed = true;
        }
    }

    /// <summary>A gateway <c>ErrorMessage</c> the subscription goes on after (events lost, epoch changed, rate
    /// limited, ...). Failures that end the command are not shown here: they are its one error line.</summary>
    public void Notice(EventStreamException notice)
    {
        if (notice.Code is not { } code || notice is EventStreamAuthenticationException)
        {
            // The client's own errors (it gave up) and refused keys end the subscription: reported once, at the end.
            return;
        }

        lock (_gate)
        {
            if (!_subscribed && code is ErrorCode.ErrorInvalidRequest or ErrorCode.ErrorInvalidSubscription)
            {
                // The subscribe itself was refused: SubscribeAsync throws it.
                return;
            }

            var line = CliErrors.GatewayNotice(notice, code);
            if (_subscribed)
            {
                error.WriteLine(line);
            }
            else
            {
                _early.Add(line);
            }
        }
    }

    /// <summary>The stream's state: after it first worked, a lost stream and its replacement are told.</summary>
    public void Connection(ConnectionStateChangedEventArgs change)
    {
        lock (_gate)
        {
            switch (change.State)
            {
                case EventStreamClientState.Connected:
                    if (_lost)
                    {
                        error.WriteLine($"reconnected to {change.Address?.ToString().TrimEnd('/')}; resuming after "
                            + "the last event shown");
                    }

                    _connected = true;
                    _lost = false;
                    break;
                case EventStreamClientState.Connecting when _connected && !_lost:
                    _lost = true;
                    var why = change.Error is { } cause
                        ? CliErrors.Describe(cause, change.Address).Message
                        : "the stream ended";
                    error.WriteLine($"connection lost ({why}); reconnecting");
                    break;
                default:
                    break;
            }
        }
    }
}
