using System.Globalization;

namespace Marie.Events.LoadTest;

/// <summary>Command-line options of a harness run (see <see cref="Usage"/>).</summary>
internal sealed class BenchOptions
{
    public const string Usage = """
        Marie.Events.LoadTest: our gateway vs NATS JetStream vs a raw grpc-dotnet server, side by side (issue 3).

          dotnet run -c Release --project bench/Marie.Events.LoadTest -- [options]

          --quick              about 35 s, to check the harness: 1-second rounds, no warm-up, 1,000 idle streams,
                               rings of 2,000
          --only W1,W4         run only these workloads (W1..W6, W6 = burst; WP: publish only; WC: the cluster run on
                               redis-server, docs/cluster.md, in the default run when redis-server is installed;
                               W1D: W1 with every subscription durable, alternating with plain W1 on our gateway
                               (in W1's rounds when W1 runs too); WG: a consumer group of 10 against 10 plain
                               subscriptions splitting the topic by job id; W1D and WG: targets ours and ours-base)
          --backend NAME       our gateway's toast.grpc.broker.backend: memory (default) or file (fsync: always, in the
                               run's temporary folder); ours-base (--baseline-gateway) stays on memory, so the same
                               build given as baseline compares file with memory in one run
          --targets LIST       ours,client,raw,jetstream (default: all four; client = our gateway through the client
                               library, in W1, W2 and W4)
          --baseline-gateway DIR   also run a gateway build from DIR (a copy of src/Marie.Events.Gateway/bin/Release/
                               net10.0 of another commit) as target ours-base, side by side with ours (before/after;
                               --gateway-env applies to ours only)
          --out DIR            results folder (default: results/ at the repository root)
          --nats-server PATH   nats-server binary (default: nats-server on PATH)
          --streams N          W3 idle streams (default 10,000; --quick 1,000)
          --rounds N           measured rounds per target in W1, W2, W4 and WC (default 2; --quick 1)
          --ring N             replay ring per topic: our replay_size, JetStream's messages per subject
                               (default 10,000; --quick 2,000)
          --native-toast       our gateways keep their default native event log (toast.native, one JSON line per
                               event); without it the harness turns it off, to measure the broker
          --gateway-env K=V    an environment variable for our gateway's process only (repeatable; experiments,
                               e.g. DOTNET_gcServer=0); recorded in the results
          --chart FILE.json    draw the chart of a results file again (FILE.png), run nothing
          --serve-raw --port P [--heartbeat-s S]   run the raw gRPC baseline server (the harness starts it)
        """;

    public bool Quick { get; private set; }

    public HashSet<string> Workloads { get; private set; } = [.. KnownWorkloads];

    /// <summary>Every workload, and the default run's.</summary>
    private static readonly string[] KnownWorkloads = ["W1", "W1D", "W2", "W3", "W4", "W5", "W6", "WG", "WP", "WC"];

    /// <summary>Our gateway's backend (--backend): memory or file.</summary>
    public string Backend { get; private set; } = "memory";

    /// <summary>--only was given: a workload that cannot run is an error, not skipped.</summary>
    public bool OnlyGiven { get; private set; }

    /// <summary>A workload of the side-by-side comparison (W1..W5) runs: the three servers are needed.</summary>
    public bool RunsComparison => Workloads.Overlaps(["W1", "W1D", "W2", "W3", "W4", "W5", "W6", "WG", "WP"]);

    public HashSet<string> Targets { get; private set; } = ["ours", "client", "raw", "jetstream"];

    public string? BaselineGateway { get; private set; }

    /// <summary>--native-toast: our gateways keep the native event log on, as their default configuration
    /// has it.</summary>
    public bool NativeToast { get; private set; }

    public string? OutDir { get; private set; }

    public string NatsServer { get; private set; } = "nats-server";

    public int? Streams { get; private set; }

    public int? Ring { get; private set; }

    /// <summary>Measured rounds per target in W1, W2, W4 and WC (default 2; --quick 1).</summary>
    public int? Rounds { get; private set; }

    public Dictionary<string, string> GatewayEnvironment { get; } = [];

    public bool ServeRaw { get; private set; }

    public int Port { get; private set; }

    public double HeartbeatSeconds { get; private set; } = 5;

    public bool Help { get; private set; }

    public string? ChartFrom { get; private set; }

    public string[] Args { get; private set; } = [];

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions { Args = args };
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--quick":
                    options.Quick = true;
                    break;
                case "--only":
                    options.Workloads =
                        [.. Next().ToUpperInvariant().Split(',', StringSplitOptions.RemoveEmptyEntries)];
                    options.OnlyGiven = true;
                    break;
                case "--targets":
                    options.Targets = [.. Next().ToLowerInvariant().Split(',', StringSplitOptions.RemoveEmptyEntries)];
                    break;
                case "--backend":
                    var backend = Next().ToLowerInvariant();
                    options.Backend = backend is "memory" or "file"
                        ? backend
                        : throw new ArgumentException("--backend must be memory or file");
                    break;
                case "--out":
                    options.OutDir = Next();
                    break;
                case "--nats-server":
                    options.NatsServer = Next();
                    break;
                case "--streams":
                    options.Streams = int.Parse(Next(), CultureInfo.InvariantCulture);
                    break;
                case "--baseline-gateway":
                    options.BaselineGateway = Next();
                    break;
                case "--rounds":
                    options.Rounds = int.Parse(Next(), CultureInfo.InvariantCulture);
                    if (options.Rounds < 1)
                    {
                        throw new ArgumentException("--rounds must be at least 1");
                    }

                    break;
                case "--ring":
                    options.Ring = int.Parse(Next(), CultureInfo.InvariantCulture);
                    break;
                case "--native-toast":
                    options.NativeToast = true;
                    break;
                case "--gateway-env":
                    var pair = Next().Split('=', 2);
                    options.GatewayEnvironment[pair[0]] = pair.Length == 2
                        ? pair[1]
                        : throw new ArgumentException("--gateway-env needs KEY=VALUE");
                    break;
                case "--serve-raw":
                    options.ServeRaw = true;
                    break;
                case "--port":
                    options.Port = int.Parse(Next(), CultureInfo.InvariantCulture);
                    break;
                case "--heartbeat-s":
                    options.HeartbeatSeconds = double.Parse(Next(), CultureInfo.InvariantCulture);
                    break;
                case "--chart":
                    options.ChartFrom = Next();
                    break;
                case "--help" or "-h":
                    options.Help = true;
                    break;
                default:
                    throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        var unknown = options.Workloads.Except(KnownWorkloads).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"--only: unknown workload {string.Join(",", unknown)}");
        }

        var unknownTargets = options.Targets.Except(["ours", "client", "raw", "jetstream"]).ToArray();
        if (unknownTargets.Length > 0)
        {
            throw new ArgumentException($"--targets: unknown target {string.Join(",", unknownTargets)}");
        }

        return options;
    }
}

/// <summary>The sizes and durations of a run: the default (about 4 minutes) or <c>--quick</c> (about 40 s).</summary>
/// <param name="Warmup">A warm-up round per target before the measured ones (zero: none).</param>
/// <param name="IdleSettle">W3: the wait between the streams being open and the idle measurement.</param>
internal sealed record Plan(
    TimeSpan Warmup,
    TimeSpan Round,
    int Rounds,
    int IdleStreams,
    TimeSpan IdleSettle,
    TimeSpan IdleWindow,
    TimeSpan LatencyRound,
    int ReplayRing)
{
    /// <summary>Default (about 4 minutes): 2 rounds of 4 s per target in W1, W2 and W4, 10,000 streams, 10,000-event
    /// rings.</summary>
    public static Plan Default(BenchOptions options) => new(
        TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(4), options.Rounds ?? 2, options.Streams ?? 10_000,
        TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(4), options.Ring ?? 10_000);

    /// <summary>Quick (about 35 s, to check the harness, not to quote): no warm-up, one 1-second round each, 1,000
    /// streams, 2,000-event rings.</summary>
    public static Plan QuickPlan(BenchOptions options) => new(
        TimeSpan.Zero, TimeSpan.FromSeconds(1), options.Rounds ?? 1, options.Streams ?? 1_000,
        TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), options.Ring ?? 2_000);
}
