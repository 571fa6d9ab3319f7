using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Marie.Events.FunctionalTests.Telemetry;

/// <summary>
/// Debian's <c>prometheus</c> (test.sh installs it), started on a free loopback port with a scrape config of its
/// own in a temporary folder: every second, <c>/metrics</c> of one target with a bearer key. Killed and its folder
/// deleted on dispose.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    /// <summary>Where Debian installs the binary.</summary>
    public const string DebianBinary = "/usr/bin/prometheus";

    private readonly Process _process;
    private readonly string _folder;
    private readonly StringBuilder _output;

    private PrometheusServer(Process process, string folder, int port, StringBuilder output)
    {
        _process = process;
        _folder = folder;
        _output = output;
        Api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>Prometheus's HTTP API.</summary>
    public HttpClient Api { get; }

    /// <summary>What the server printed (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts Prometheus scraping <paramref name="target"/> (host:port) with <paramref name="bearerKey"/>.
    /// Fails, never skips, when the binary is missing.</summary>
    public static PrometheusServer Start(string target, string bearerKey)
    {
        var binary = Find() ?? throw new Xunit.Sdk.XunitException(
            "Debian's prometheus is not installed (no " + DebianBinary + " and none on PATH): ./test.sh installs it "
            + "when run as root, or run: apt-get install -y prometheus");
        var folder = Path.Combine(
            Path.GetTempPath(), "marie-events-tests", "prometheus-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var keyFile = Path.Combine(folder, "key");
        File.WriteAllText(keyFile, bearerKey);
        var config = Path.Combine(folder, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: marie-events
                metrics_path: /metrics
                authorization:
                  type: Bearer
                  credentials_file: {keyFile}
                static_configs:
                  - targets: ['{target}']
            """);
        var port = FreePort();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])
            [
                $"--config.file={config}",
                $"--storage.tsdb.path={Path.Combine(folder, "data")}",
                $"--web.listen-address=127.0.0.1:{port}",
            ])
        {
            start.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var process = Process.Start(start) ?? throw new Xunit.Sdk.XunitException($"{binary} did not start");
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new PrometheusServer(process, folder, port, output);
    }

    /// <summary>The value of an instant query's single series; null while it has none (not scraped yet, or
    /// Prometheus not listening yet).</summary>
    public async Task<double?> QueryAsync(string query)
    {
        try
        {
            var text = await Api.GetStringAsync("/api/v1/query?query=" + Uri.EscapeDataString(query));
            using var json = JsonDocument.Parse(text);
            var result = json.RootElement.GetProperty("data").GetProperty("result");
            if (result.GetArrayLength() != 1)
            {
                return null;
            }

            // "value": [ <unix time>, "<value as a string>" ]
            var value = result[0].GetProperty("value")[1].GetString()!;
            return double.Parse(value, CultureInfo.InvariantCulture);
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless.
        }
    }

    private static string? Find()
    {
        if (File.Exists(DebianBinary))
        {
            return DebianBinary;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "prometheus"))
            .FirstOrDefault(File.Exists);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }
}
