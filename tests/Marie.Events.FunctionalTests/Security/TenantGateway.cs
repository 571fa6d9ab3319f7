using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>One <c>auth.keys</c> entry of a test: a key made at run time, its name, roles and topics.</summary>
public sealed record KeySpec(
    string Name,
    string[] Roles,
    string[]? Topics = null,
    bool Enabled = true,
    bool Hashed = false)
{
    /// <summary>The raw key (a hashed entry writes only its SHA-256 to the file).</summary>
    public string Key { get; init; } = TestKeys.NewKey();

    public KeySpec WithKey(string key) => this with { Key = key };
}

/// <summary>
/// A gateway run from a YAML configuration file holding tenant keys (so the file can be edited while it runs):
/// the file is written to a temporary folder, <c>--config</c> points at it, and <see cref="RewriteAsync"/> replaces
/// it the way a deployment tool would (a new file moved over the old one).
/// </summary>
public sealed class TenantGateway : IAsyncDisposable
{
    private TenantGateway(GatewayFixture gateway, string configPath, IReadOnlyList<KeySpec> keys)
    {
        Gateway = gateway;
        ConfigPath = configPath;
        Keys = keys;
    }

    public GatewayFixture Gateway { get; }

    public string ConfigPath { get; }

    public IReadOnlyList<KeySpec> Keys { get; private set; }

    public string KeyOf(string name) => Keys.Single(k => k.Name == name).Key;

    public static async Task<TenantGateway> StartAsync(
        IReadOnlyList<KeySpec> keys,
        Action<GatewaySettings>? configure = null)
    {
        var dir = GatewayFixture.NewTempDir();
        var path = Path.Combine(dir, "gateway.yml");
        await File.WriteAllTextAsync(path, Yaml(keys));
        var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.ConfigureKeys = false;
            s.StateDir = dir;
            s.Args.AddRange(["--config", path]);
            configure?.Invoke(s);
        });
        return new TenantGateway(gateway, path, keys);
    }

    /// <summary>Replaces the configuration file with these keys and waits until the gateway applied them (its
    /// "API keys reloaded" line, the n-th one).</summary>
    public async Task RewriteAsync(IReadOnlyList<KeySpec> keys)
    {
        var reloadsBefore = Gateway.Logs.Entries.Count(e => e.EventId.Id == 6003);
        await ReplaceFileAsync(Yaml(keys));
        await WaitForAsync(
            () => Gateway.Logs.Entries.Count(e => e.EventId.Id == 6003) > reloadsBefore,
            "the keys to be reloaded");
        Keys = keys;
    }

    /// <summary>Replaces the file's text (atomically: a new file moved over it).</summary>
    public async Task ReplaceFileAsync(string text)
    {
        var temp = ConfigPath + "." + Guid.NewGuid().ToString("N") + ".tmp";
        await File.WriteAllTextAsync(temp, text);
        File.Move(temp, ConfigPath, overwrite: true);
    }

    /// <summary>The configuration file's text: only <c>auth.keys</c> (the fixture sets ports and the rest).</summary>
    public static string Yaml(IEnumerable<KeySpec> keys)
    {
        var text = new StringBuilder().AppendLine("auth:").AppendLine("  keys:");
        foreach (var key in keys)
        {
            text.Append("    - name: \"").Append(key.Name).AppendLine("\"");
            if (key.Hashed)
            {
                text.Append("      api_key_sha256: ").AppendLine(
                    Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.Key))));
            }
            else
            {
                text.Append("      api_key: ").AppendLine(key.Key);
            }

            text.Append("      enabled: ").AppendLine(key.Enabled ? "true" : "false");
            text.Append("      roles: [").Append(string.Join(", ", key.Roles)).AppendLine("]");
            if (key.Topics is not null)
            {
                text.Append("      topics: [").Append(
                    string.Join(", ", key.Topics.Select(t => $"\"{t}\""))).AppendLine("]");
            }
        }

        return text.ToString();
    }

    /// <summary>Waits for a condition, checking it every 20 ms, failing after the timeout.</summary>
    public static Task WaitForAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        WaitForAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>Waits for an asynchronous condition, checking it every 20 ms, failing after the timeout.</summary>
    public static async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? GatewayFixture.Timeout);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        while (!await condition())
        {
            try
            {
                await timer.WaitForNextTickAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"Timed out waiting for {what}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        try
        {
            Directory.Delete(Path.GetDirectoryName(ConfigPath)!, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }
}

/// <summary>Stream helpers for the security tests.</summary>
public static class SecurityStreams
{
    /// <summary>Subscribes and returns the first answer for that subscription: its confirm or its error.</summary>
    public static async Task<ServerMessage> SubscribeAsync(
        AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call,
        SubscribeRequest request)
    {
        await call.RequestStream.WriteAsync(new ClientMessage { Subscribe = request });
        return await Streams.ReadUntilAsync(call.ResponseStream, m =>
            (m.SubscriptionConfirm?.SubscriptionId == request.SubscriptionId)
            || (m.Error is not null && m.Error.SubscriptionId == request.SubscriptionId));
    }

    public static Task<ServerMessage> SubscribeAsync(
        AsyncDuplexStreamingCall<ClientMessage, ServerMessage> call,
        string id,
        params string[] topics) =>
        SubscribeAsync(call, new SubscribeRequest { SubscriptionId = id, Topics = { topics } });

    /// <summary>Reads until the call ends; returns its final status and what came before it.</summary>
    public static async Task<(RpcException? End, List<ServerMessage> Seen)> ReadToEndAsync(
        IAsyncStreamReader<ServerMessage> stream,
        TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? GatewayFixture.Timeout);
        var seen = new List<ServerMessage>();
        try
        {
            while (await stream.MoveNext(cts.Token))
            {
                seen.Add(stream.Current);
            }

            return (null, seen);
        }
        catch (RpcException ex) when (!cts.IsCancellationRequested)
        {
            return (ex, seen);
        }
    }

    public static EventData Event(string topic, string name = "extract.completed") => Streams.Event(topic, name);
}
