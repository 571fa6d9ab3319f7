using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Marie.Events.Protocol;
using Spectre.Console;

namespace Marie.Events.Cli.Commands;

/// <summary><c>stats</c>: <c>AdminService/GetStats</c> on the gRPC address (or, with <c>--admin-address</c>, the admin
/// HTTP API's <c>GET /internal/stats</c>) as tables.</summary>
internal static class StatsCommand
{
    /// <summary>The admin API answers at once; a gateway that does not is reported after this long.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    public static Command Create(CliContext context, CommonOptions common)
    {
        var admin = new Option<string?>("--admin-address")
        {
            Description = "Read the admin HTTP API at this address instead of AdminService on the gRPC --address.",
            HelpName = "URL",
        };
        var json = new Option<bool>("--json") { Description = "Print the stats JSON as the gateway sent it." };
        var command = new Command("stats",
            """
            Show the gateway's figures: connections, subscriptions, topics, events in flight, counters, per-topic head
            and buffered events, and the Toast pipeline. Needs an admin key.
            """)
        {
            admin, json,
        };
        common.AddTo(command);
        command.WithExamples(
            "marie-events stats",
            "marie-events stats --address http://gw:51001",
            "marie-events stats --admin-address http://gw:51002 --json    (the admin HTTP API instead)");
        command.SetAction(async (parse, ct) =>
        {
            var key = common.RequireApiKey(parse);
            string body;
            Uri source;
            if (parse.GetValue(admin) is { } given)
            {
                source = Addresses.Parse(given, "--admin-address");
                context.Target = source;
                body = await FetchAsync(source, key, ct).ConfigureAwait(false);
            }
            else
            {
                source = common.GetAddress(parse);
                context.Target = source;
                using var connection = new GatewayConnection(source, key);
                var reply = await connection.Admin.GetStatsAsync(new GetStatsRequest(), connection.Unary(ct))
                    .ConfigureAwait(false);
                body = reply.Json;
            }

            if (parse.GetValue(json))
            {
                await context.Out.WriteLineAsync(body).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            JsonElement stats;
            try
            {
                stats = JsonDocument.Parse(body).RootElement;
            }
            catch (JsonException ex)
            {
                throw new CliException($"the gateway at {source} did not answer JSON: {ex.Message}");
            }

            Render(context.Console, stats);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<string> FetchAsync(Uri adminAddress, string key, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = adminAddress, Timeout = RequestTimeout };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/internal/stats");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => body,
            HttpStatusCode.Unauthorized =>
                throw new CliException("the admin API refused the key (401): give an admin key with --api-key or "
                    + $"{CommonOptions.ApiKeyVariable}"),
            HttpStatusCode.Forbidden => throw new CliException("the admin API needs a key with role admin (403)"),
            HttpStatusCode.NotFound => throw new CliException(
                $"no admin API at {adminAddress} (404): is that the gRPC port? "
                    + "Give the admin port's address, or leave --admin-address out to use the gRPC --address"),
            _ => throw new CliException(
                $"the admin API at {adminAddress} answered {(int)response.StatusCode} {response.ReasonPhrase}"),
        };
    }

    private static void Render(IAnsiConsole console, JsonElement stats)
    {
        var broker = new Table().Title("Broker").AddColumn("figure").AddColumn(new TableColumn("value").RightAligned());
        foreach (var property in stats.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
        {
            broker.AddRow(Markup.Escape(property.Name), Number(property.Value));
        }

        console.Write(broker);

        var topics = new Table()
            .Title("Topics")
            .AddColumn("topic")
            .AddColumn(new TableColumn("head").RightAligned())
            .AddColumn(new TableColumn("buffered").RightAligned());
        if (stats.TryGetProperty("topic_stats", out var topicStats) && topicStats.ValueKind == JsonValueKind.Object)
        {
            foreach (var topic in topicStats.EnumerateObject().OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                topics.AddRow(Markup.Escape(topic.Name), Field(topic.Value, "head"), Field(topic.Value, "buffered"));
            }
        }

        console.Write(topics);

        if (stats.TryGetProperty("toast", out var toast) && toast.ValueKind == JsonValueKind.Object)
        {
            var pipeline = new Table()
                .Title("Toast pipeline")
                .AddColumn("handler")
                .AddColumn("figure")
                .AddColumn(new TableColumn("value").RightAligned());
            foreach (var property in toast.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.Number)
                {
                    pipeline.AddRow("", Markup.Escape(property.Name), Number(property.Value));
                }
                else if (property.Value.ValueKind == JsonValueKind.Object)
                {
                    foreach (var figure in property.Value.EnumerateObject())
                    {
                        var value = figure.Value.ValueKind == JsonValueKind.Number
                            ? Number(figure.Value)
                            : Markup.Escape(figure.Value.ToString());
                        pipeline.AddRow(Markup.Escape(property.Name), Markup.Escape(figure.Name), value);
                    }
                }
                else if (property.Value.ValueKind == JsonValueKind.Null)
                {
                    pipeline.AddRow(Markup.Escape(property.Name), "disabled", "");
                }
            }

            console.Write(pipeline);
        }
    }

    private static string Field(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? Number(value) : "";

    private static string Number(JsonElement value) =>
        value.TryGetInt64(out var n) ? n.ToString("N0", CultureInfo.InvariantCulture) : value.ToString();
}
