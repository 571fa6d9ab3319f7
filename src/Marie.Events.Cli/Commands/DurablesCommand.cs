using System.CommandLine;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Marie.Events.Protocol;
using Spectre.Console;

namespace Marie.Events.Cli.Commands;

/// <summary><c>durables list|delete</c>: the key's durable subscriptions over the gRPC <c>DurableService</c>.</summary>
internal static class DurablesCommand
{
    public static Command Create(CliContext context, CommonOptions common) =>
        new Command("durables",
            """
            The durable subscriptions of your key (subscriptions with a durable name, and consumer groups), over
            marieai.events.DurableService: list them with their positions, delete one no stream holds.
            A key sees only its own; an admin key may name another with --key.
            """)
        {
            CreateList(context, common),
            CreateDelete(context, common),
        }.WithExamples(
            "marie-events durables list",
            "marie-events durables delete worker --yes");

    private static Option<string?> NewKeyOption() => new("--key")
    {
        Description = "Admin keys only: the key (its name in auth.keys) whose durables to use. Default: your own.",
        HelpName = "NAME",
    };

    private static Command CreateList(CliContext context, CommonOptions common)
    {
        var key = NewKeyOption();
        var json = new Option<bool>("--json")
        {
            Description = "One JSON object a durable (the DurableSubscriptionState message), and no footer.",
        };
        var command = new Command("list",
            "List the durables by name: group, streams holding each, unacknowledged events, each topic's "
                + "acknowledged and delivered points, and when an unheld one expires (durable.inactive_ttl_s).")
        {
            key, json,
        };
        common.AddTo(command);
        command.WithExamples(
            "marie-events durables list",
            "marie-events durables list --json",
            "marie-events durables list --key billing-service");
        command.SetAction(async (parse, ct) =>
        {
            using var connection = DeadLettersCommand.Connect(context, common, parse);
            var response = await connection.Durables.ListDurablesAsync(
                new ListDurablesRequest { Key = parse.GetValue(key) ?? "" }, connection.Unary(ct))
                .ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                foreach (var durable in response.Durables)
                {
                    await context.Out.WriteLineAsync(EventFormat.ToJson(durable)).ConfigureAwait(false);
                }

                return ExitCodes.Ok;
            }

            if (response.Durables.Count > 0)
            {
                var table = new Table()
                    .AddColumn("name")
                    .AddColumn("group")
                    .AddColumn(new TableColumn("streams").RightAligned())
                    .AddColumn(new TableColumn("pending").RightAligned())
                    .AddColumn("topics (acked/delivered)")
                    .AddColumn("inactive since")
                    .AddColumn("expires at");
                foreach (var durable in response.Durables)
                {
                    table.AddRow(
                        Markup.Escape(durable.Name),
                        Markup.Escape(durable.Group),
                        durable.Members.ToString(CultureInfo.InvariantCulture),
                        durable.Pending.ToString(CultureInfo.InvariantCulture),
                        Markup.Escape(Positions(durable)),
                        durable.Members > 0 ? "(held)" : Time(durable.InactiveSince),
                        durable.Members > 0 ? "" : Time(durable.ExpiresAt));
                }

                context.Console.Write(table);
            }

            await context.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{response.Durables.Count} durable subscriptions")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateDelete(CliContext context, CommonOptions common)
    {
        var name = new Argument<string>("name") { Description = "The durable name (from list)." };
        var key = NewKeyOption();
        var yes = new Option<bool>("--yes", "-y") { Description = "Delete it (without it: only say what would be)." };
        var command = new Command("delete",
            """
            Delete a durable subscription no stream holds, with its acknowledged points and unacknowledged events:
            a stream subscribing with the name later starts a new one. Without --yes it only says what would be
            deleted, and exits with 1.
            """)
        {
            name, key, yes,
        };
        common.AddTo(command);
        command.WithExamples("marie-events durables delete worker", "marie-events durables delete worker --yes");
        command.SetAction(async (parse, ct) =>
        {
            var durableName = parse.GetValue(name)!;
            var owner = parse.GetValue(key) ?? "";
            using var connection = DeadLettersCommand.Connect(context, common, parse);
            if (!parse.GetValue(yes))
            {
                var listed = await connection.Durables.ListDurablesAsync(
                    new ListDurablesRequest { Key = owner }, connection.Unary(ct)).ConfigureAwait(false);
                var durable = listed.Durables.FirstOrDefault(d => d.Name == durableName)
                    ?? throw NotFound(durableName);
                await context.Out.WriteLineAsync(Describe(durable)).ConfigureAwait(false);
                await context.Out.WriteLineAsync(durable.Members > 0
                    ? "nothing deleted: it is held by a stream (end it first), then run again with --yes"
                    : "nothing deleted: run again with --yes to go on").ConfigureAwait(false);
                return ExitCodes.Failed;
            }

            DeleteDurableResponse deleted;
            try
            {
                deleted = await connection.Durables.DeleteDurableAsync(
                    new DeleteDurableRequest { Name = durableName, Key = owner }, connection.Unary(ct))
                    .ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                throw NotFound(durableName);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.FailedPrecondition)
            {
                throw new CliException(
                    $"durable subscription '{durableName}' is held by a stream: end it (or unsubscribe) first");
            }

            await context.Out.WriteLineAsync($"deleted durable subscription '{deleted.Name}' of key '{deleted.Key}'")
                .ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static CliException NotFound(string name) =>
        new($"no durable subscription '{name}' for this key (see 'durables list')");

    private static string Describe(DurableSubscriptionState durable)
    {
        var group = durable.Group.Length > 0 ? $" (group {durable.Group})" : "";
        var held = durable.Members > 0
            ? string.Create(CultureInfo.InvariantCulture, $"; held by {durable.Members} streams")
            : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"would delete durable subscription '{durable.Name}' of key '{durable.Key}'{group}: "
                + $"{durable.Pending} unacknowledged events, topics {Positions(durable)}{held}");
    }

    private static string Positions(DurableSubscriptionState durable) => durable.Topics.Count == 0
        ? "(none)"
        : string.Join(", ", durable.Topics.Select(t =>
            string.Create(CultureInfo.InvariantCulture, $"{t.Topic} {t.Acked}/{t.Delivered}")));

    private static string Time(Timestamp? at) =>
        at is null ? "" : at.ToDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
