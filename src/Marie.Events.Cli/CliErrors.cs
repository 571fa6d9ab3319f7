using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Marie.Events.Client;
using Marie.Events.Protocol;

namespace Marie.Events.Cli;

/// <summary>Turns what went wrong into the one line the user reads, and the exit code.</summary>
internal static class CliErrors
{
    public static (string Message, int ExitCode) Describe(Exception ex, Uri? target) => ex switch
    {
        CliException cli => (cli.Message, cli.ExitCode),
        RpcException rpc => (DescribeRpc(rpc, target), ExitCodes.Failed),
        EventStreamException client => (DescribeClient(client, target), ExitCodes.Failed),
        HttpRequestException http => ($"cannot reach {Where(target)}: {Innermost(http).Message}", ExitCodes.Failed),
        IOException io => (io.Message, ExitCodes.Failed),
        _ => ($"unexpected error: {ex.GetType().Name}: {ex.Message}", ExitCodes.Failed),
    };

    /// <summary>A client error: the call's status when one ended it (also what a client that gave up reconnecting
    /// last met), else the gateway's <c>ErrorMessage</c>, else the client's own words.</summary>
    private static string DescribeClient(EventStreamException ex, Uri? target)
    {
        for (Exception? cause = ex; cause is not null; cause = cause.InnerException)
        {
            if (cause is RpcException rpc)
            {
                return DescribeRpc(rpc, target);
            }
        }

        return ex.Code is { } code ? GatewayNotice(ex, code) : ex.Message;
    }

    /// <summary><c>gateway: ERROR_EVENTS_LOST: message (topic=a, first_missed=1)</c>: an <c>ErrorMessage</c> as
    /// <c>subscribe</c> shows it.</summary>
    public static string GatewayNotice(EventStreamException error, ErrorCode code)
    {
        // The client's message is "<Code>[ (subscription <id>)]: <the gateway's message>".
        var prefix = $"{code}{(error.SubscriptionId is { } id ? $" (subscription {id})" : "")}: ";
        var text = error.Message.StartsWith(prefix, StringComparison.Ordinal)
            ? error.Message[prefix.Length..]
            : error.Message;
        var details = string.Join(", ", error.Details.Select(d => $"{d.Key}={d.Value}"));
        return $"gateway: {UpperSnake(code.ToString())}: {text}{(details.Length > 0 ? $" ({details})" : "")}";
    }

    private static string DescribeRpc(RpcException ex, Uri? target)
    {
        var detail = ex.Status.Detail;
        return ex.StatusCode switch
        {
            StatusCode.Unavailable when ex.Status.DebugException is { } cause && IsConnectionFailure(cause) =>
                $"cannot reach the gateway at {Where(target)}: {Innermost(cause).Message}",
            StatusCode.Unauthenticated =>
                $"the gateway refused the API key (UNAUTHENTICATED: {detail}); give a valid key with --api-key or "
                    + $"{CommonOptions.ApiKeyVariable}",
            StatusCode.PermissionDenied => $"permission denied (PERMISSION_DENIED: {detail})",
            StatusCode.Unimplemented =>
                $"the gateway at {Where(target)} does not serve this call (UNIMPLEMENTED: {detail}); with "
                    + "toast.grpc.enabled false it serves no event stream",
            StatusCode.DeadlineExceeded =>
                $"no answer from the gateway within {GatewayConnection.UnaryDeadline.TotalSeconds:0} s "
                    + "(DEADLINE_EXCEEDED)",
            _ => $"{CodeName(ex.StatusCode)}: {detail}",
        };
    }

    private static bool IsConnectionFailure(Exception ex) =>
        ex is HttpRequestException or SocketException || (ex.InnerException is { } inner && IsConnectionFailure(inner));

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is { } inner)
        {
            ex = inner;
        }

        return ex;
    }

    private static string Where(Uri? target) => target?.ToString().TrimEnd('/') ?? "the gateway";

    /// <summary>gRPC's own spelling: <c>ResourceExhausted</c> → <c>RESOURCE_EXHAUSTED</c>.</summary>
    public static string CodeName(StatusCode code) => UpperSnake(code.ToString());

    /// <summary>A C# enum member's proto spelling: <c>ErrorEventsLost</c> → <c>ERROR_EVENTS_LOST</c>.</summary>
    public static string UpperSnake(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]))
            {
                text.Append('_');
            }

            text.Append(char.ToUpperInvariant(name[i]));
        }

        return text.ToString();
    }
}
