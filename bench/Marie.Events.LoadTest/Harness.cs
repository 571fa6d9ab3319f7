using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Marie.Events.LoadTest.Infra;
using Marie.Events.LoadTest.Report;
using Marie.Events.LoadTest.Targets;

namespace Marie.Events.LoadTest;

/// <summary>
/// One run: starts the three servers (each in its own process), runs W1..W5 with rounds alternating between
/// targets, prints the tables and writes JSON, Markdown and the chart to the results folder.
/// </summary>
internal sealed partial class Harness : IAsyncDisposable
{
    private readonly BenchOptions _options;
    private readonly Plan _plan;
    private readonly RunReport _report;
    private readonly string _workDir;
    private GrpcTarget? _ours;
    private GrpcTarget? _oursClient;
    private GrpcTarget? _oursBase;
    private GrpcTarget? _raw;
    private NatsServer? _nats;
    private JetStreamTarget? _jetStreamAckAll;
    private JetStreamTarget? _jetStreamAckExplicit;

    /// <summary>The collector of each .NET server under test (by process id; null: not .NET, nats-server), watched
    /// from its first fan-out round to the end of the run.</summary>
    private readonly Dictionary<int, GcMonitor?> _gcMonitors = [];

    private Harness(BenchOptions options, Plan plan, RunReport report, string workDir)
    {
        _options = options;
        _plan = plan;
        _report = report;
        _workDir = workDir;
    }

    public static async Task<int> RunAsync(BenchOptions options)
    {
        var plan = options.Quick ? Plan.QuickPlan(options) : Plan.Default(options);
        var outDir = Path.GetFullPath(options.OutDir ?? Path.Combine(RepositoryRoot(), "results"));
        Directory.CreateDirectory(outDir);
        var workDir = Directory.CreateTempSubdirectory("marie-loadtest-").FullName;
        var natsServer = options.RunsComparison && options.Targets.Contains("jetstream")
            ? FindNatsServer(options.NatsServer)
            : null;
        var report = new RunReport
        {
            Command = "dotnet run -c Release --project bench/Marie.Events.LoadTest --"
                + (options.Args.Length > 0 ? " " + string.Join(' ', options.Args) : ""),
            Mode = options.Quick ? "--quick" : "default",
            Started = DateTimeOffset.UtcNow,
            Machine = new MachineInfo(
                Environment.ProcessorCount,
                ProcStat.MemTotalBytes() / (1024.0 * 1024 * 1024),
                RuntimeInformation.OSDescription,
                Environment.Version.ToString(),
                natsServer is null ? "nats-server: not used" : NatsVersion(natsServer),
                ProcStat.LoadAverage()),
        };
        report.Notes.Add(SubscriberDrivers.ClientLibraryStatus);
        report.Notes.Add($"replay ring per topic: {plan.ReplayRing:N0} events (our replay_size; JetStream max messages "
            + $"per subject); max_in_flight / MaxAckPending {ClientSettings.MaxInFlight:N0}; heartbeats every "
            + $"{options.HeartbeatSeconds:F0} s");
        report.Notes.Add(options.NativeToast
            ? "our gateways kept the native event log on (toast.native.enabled, the default: --native-toast)"
            : "our gateways ran with toast.native.enabled: false (the broker alone; --native-toast keeps it)");
        foreach (var (key, value) in options.GatewayEnvironment)
        {
            report.Notes.Add($"our gateway ran with {key}={value}");
        }

        Console.WriteLine($"Marie.Events.LoadTest ({report.Mode}); machine: {report.Machine.Cores} cores, "
            + $"{report.Machine.MemoryGiB:F1} GiB, load {report.Machine.LoadBefore}");
        Console.WriteLine($"work folder {workDir} (configuration with generated keys, server logs; deleted after a "
            + $"good run); results to {outDir}");
        CheckOpenFiles(plan, report);

        var started = Stopwatch.GetTimestamp();
        var harness = new Harness(options, plan, report, workDir);
        var code = 0;
        try
        {
            if (options.RunsComparison)
            {
                await harness.StartServersAsync(natsServer);
            }

            await harness.RunWorkloadsAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or TimeoutException)
        {
            Console.Error.WriteLine($"Marie.Events.LoadTest: {ex.Message}");
            report.Notes.Add($"run stopped early: {ex.Message}");
            code = 1;
        }
        finally
        {
            // The servers stop here, before their folder goes.
            await harness.DisposeAsync();
        }

        if (code == 0)
        {
            // The work folder holds the generated keys and the servers' logs: kept only when the run failed.
            Directory.Delete(workDir, recursive: true);
        }
        else
        {
            Console.Error.WriteLine($"server logs kept in {workDir}");
        }

        report.DurationSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        report.Machine.LoadAfter = ProcStat.LoadAverage();
        await WriteResultsAsync(report, outDir);
        return code;
    }

    /// <summary>The file backend with fsync always (the default, written out), in the gateway's state folder.</summary>
    private const string FileBackendLines = """
        backend: file
              file:
                fsync: always
        """;

    private async Task StartServersAsync(string? natsServer)
    {
        var settings = new ServerSettings(
            _workDir,
            _plan.ReplayRing,
            _options.HeartbeatSeconds,
            _options.GatewayEnvironment,
            _options.NativeToast);
        // "client" drives the same gateway through the client library: it is started for either target.
        if (_options.Targets.Contains("ours") || _options.Targets.Contains("client"))
        {
            _ours = await Launchers.StartOursAsync(
                settings,
                SubscriberDrivers.Stubs,
                brokerBackend: _options.Backend == "file" ? FileBackendLines : "backend: memory");
            Console.WriteLine($"ours: gateway pid {_ours.Server.Pid}");
            if (_options.Targets.Contains("client"))
            {
                _oursClient = _ours.Through("ours-client", SubscriberDrivers.ClientLibrary);
            }
        }

        if (_options.BaselineGateway is { } baseline)
        {
            // The baseline runs without --gateway-env: an experiment's variable applies to ours only, so it can be
            // compared with the same build in the same run.
            _oursBase = await Launchers.StartOursAsync(
                settings with { GatewayEnvironment = new Dictionary<string, string>() },
                SubscriberDrivers.Stubs,
                "ours-base",
                Path.Combine(baseline, "Marie.Events.Gateway.dll"));
            Console.WriteLine($"ours-base: gateway pid {_oursBase.Server.Pid} ({baseline})");
        }

        if (_options.Targets.Contains("raw"))
        {
            _raw = await Launchers.StartRawAsync(settings);
            Console.WriteLine($"raw-grpc: pid {_raw.Server.Pid}");
        }

        if (natsServer is not null)
        {
            _nats = await Launchers.StartNatsAsync(settings, natsServer);
            _jetStreamAckAll = new JetStreamTarget(_nats, ackAll: true);
            _jetStreamAckExplicit = new JetStreamTarget(_nats, ackAll: false);
            Console.WriteLine($"jetstream: nats-server pid {_nats.Server.Pid}");
        }
    }

    private async Task RunWorkloadsAsync()
    {
        // W3 first: its memory figure is the growth of each server's resident set, least blurred while the servers'
        // heaps have not yet grown under the throughput workloads.
        if (_options.Workloads.Contains("W3"))
        {
            await RunW3Async();
        }

        double? w1Max = null;
        if (_options.Workloads.Contains("W1"))
        {
            w1Max = await RunW1Async();
        }
        else if (_options.Workloads.Contains("W1D"))
        {
            await RunW1DAsync();
        }

        if (_options.Workloads.Contains("W2"))
        {
            await RunW2Async();
        }

        if (_options.Workloads.Contains("W4"))
        {
            await RunW4Async(w1Max);
        }

        if (_options.Workloads.Contains("W5"))
        {
            await RunW5Async();
        }

        if (_options.Workloads.Contains("W6"))
        {
            await RunW6Async();
        }

        if (_options.Workloads.Contains("WG"))
        {
            await RunWGAsync();
        }

        if (_options.Workloads.Contains("WP"))
        {
            await RunWPAsync();
        }

        if (_options.Workloads.Contains("WC"))
        {
            await RunWCAsync();
        }
    }

    /// <summary>Our gateway (through the stubs; through the client library when <paramref name="client"/>; a baseline
    /// build), the raw baseline, and JetStream in the given ack modes, as started.</summary>
    private List<IBenchTarget> Targets(bool ackAll = true, bool ackExplicit = false, bool client = false)
    {
        var targets = new List<IBenchTarget>();
        if (_ours is not null && _options.Targets.Contains("ours"))
        {
            targets.Add(_ours);
        }

        if (client && _oursClient is not null)
        {
            targets.Add(_oursClient);
        }

        if (_oursBase is not null)
        {
            targets.Add(_oursBase);
        }

        if (_raw is not null)
        {
            targets.Add(_raw);
        }

        if (ackAll && _jetStreamAckAll is not null)
        {
            targets.Add(_jetStreamAckAll);
        }

        if (ackExplicit && _jetStreamAckExplicit is not null)
        {
            targets.Add(_jetStreamAckExplicit);
        }

        return targets;
    }

    /// <summary>Round <paramref name="round"/>'s order: the list rotated, so no target always runs first or
    /// last.</summary>
    private static List<IBenchTarget> Rotated(List<IBenchTarget> targets, int round) => targets.Count == 0
        ? []
        : [.. targets.Skip(round % targets.Count), .. targets.Take(round % targets.Count)];

    private async Task ResetConnectionsAsync()
    {
        _ours?.ResetConnections();
        _oursClient?.ResetConnections();
        _oursBase?.ResetConnections();
        _raw?.ResetConnections();
        if (_nats is not null)
        {
            await _nats.ResetConnectionsAsync();
        }
    }

    private void Print(Report.WorkloadReport workload)
    {
        if (workload.Rows.Count == 0)
        {
            // E.g. --targets client with W3 or W5, which the client library does not change.
            Console.WriteLine(
                $"{workload.Id}: not run, none of --targets {string.Join(",", _options.Targets)} takes part in it");
            return;
        }

        Console.WriteLine();
        Console.WriteLine($"== {workload.Id}: {workload.Title}");
        Console.Write(workload.ToMarkdownTable());
        foreach (var line in workload.Ratios.Concat(workload.Notes))
        {
            Console.WriteLine($"- {line}");
        }

        Console.WriteLine();
        _report.Workloads.Add(workload);
    }

    private static async Task WriteResultsAsync(RunReport report, string outDir)
    {
        var stamp = report.Started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var json = Path.Combine(outDir, $"loadtest-{stamp}.json");
        var markdown = Path.Combine(outDir, $"loadtest-{stamp}.md");
        var chart = Path.Combine(outDir, $"loadtest-{stamp}.png");
        await File.WriteAllTextAsync(json, report.ToJson());
        await File.WriteAllTextAsync(markdown, report.ToMarkdown());
        await File.WriteAllTextAsync(Path.Combine(outDir, "latest.md"), report.ToMarkdown());
        var charted = Chart.Write(report, chart);
        if (charted)
        {
            File.Copy(chart, Path.Combine(outDir, "latest.png"), overwrite: true);
        }

        Console.WriteLine(
            $"results: {json}, {markdown}{(charted ? ", " + chart : " (no chart: W1 and W4 not both run)")}");
    }

    private static void CheckOpenFiles(Plan plan, RunReport report)
    {
        // W3: the load generator holds one socket per connection (100 streams each) per target, the server as many;
        // plus the process's own files. Streams share HTTP/2 connections, so 10,000 streams need about 100 sockets.
        var needed = plan.IdleStreams / 100 + 512;
        var limit = ProcStat.OpenFilesLimit();
        if (limit < needed)
        {
            var message =
                $"open-file limit {limit} is below the {needed} W3 needs: raise it first (ulimit -n {needed * 2})";
            Console.WriteLine($"warning: {message}");
            report.Notes.Add(message);
        }
    }

    private static string? FindNatsServer(string name)
    {
        if (File.Exists(name))
        {
            return Path.GetFullPath(name);
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':')
            .Concat(["/usr/sbin", "/usr/bin"]))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new InvalidOperationException($"{name} not found: install Debian's package (apt-get install -y "
            + "nats-server) or pass --nats-server PATH, or run --targets ours,raw");
    }

    private static string NatsVersion(string natsServer)
    {
        using var process = Process.Start(
            new ProcessStartInfo(natsServer, "--version") { RedirectStandardOutput = true })!;
        var text = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return text;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Marie.Events.slnx")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var monitor in _gcMonitors.Values)
        {
            if (monitor is not null)
            {
                await monitor.DisposeAsync();
            }
        }

        if (_oursClient is not null)
        {
            await _oursClient.DisposeAsync();
        }

        if (_ours is not null)
        {
            await _ours.DisposeAsync();
            await _ours.Server.DisposeAsync();
        }

        if (_oursBase is not null)
        {
            await _oursBase.DisposeAsync();
            await _oursBase.Server.DisposeAsync();
        }

        if (_raw is not null)
        {
            await _raw.DisposeAsync();
            await _raw.Server.DisposeAsync();
        }

        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }
}
