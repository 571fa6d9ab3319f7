using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Marie.Events.LoadTest.Infra;

/// <summary>
/// A server under test in its own process: started with its output sent to a log file, measured from
/// <c>/proc/&lt;pid&gt;</c> (CPU seconds = utime + stime, resident memory), stopped at the end.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    /// <summary>Every server started and not yet disposed: killed if the harness exits early (Ctrl+C,
    /// SIGTERM).</summary>
    private static readonly List<Process> Running = [];

    static ServerProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        Console.CancelKeyPress += (_, _) => KillAll();
    }

    private readonly Process _process;
    private readonly StreamWriter _log;

    private ServerProcess(string name, Process process, StreamWriter log, string logPath)
    {
        Name = name;
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public string LogPath { get; }

    public bool HasExited => _process.HasExited;

    public static ServerProcess Start(
        string name,
        string fileName,
        IEnumerable<string> arguments,
        string logPath,
        IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
        lock (Running)
        {
            Running.Add(process);
        }

        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ServerProcess(name, process, log, logPath);
    }

    private static void KillAll()
    {
        lock (Running)
        {
            foreach (var process in Running)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                    }
                }
                catch (InvalidOperationException)
                {
                    // Already gone.
                }
            }

            Running.Clear();
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }

    /// <summary>Waits until the server accepts TCP connections on <paramref name="port"/>.</summary>
    public async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException(
                    $"{Name} exited with code {_process.ExitCode} before listening; see {LogPath}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The server's own CPU time so far (user + system), in seconds.</summary>
    public double CpuSeconds() => ProcStat.CpuSeconds(Pid);

    /// <summary>The server's resident memory now, in bytes.</summary>
    public long RssBytes() => ProcStat.RssBytes(Pid);

    /// <summary>The server's open file descriptors now.</summary>
    public int OpenFileDescriptors() => ProcStat.OpenFileDescriptors(Pid);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                // Killed; the OS reaps it.
            }
        }

        lock (Running)
        {
            Running.Remove(_process);
        }

        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }
}

/// <summary>Reads a process's CPU time and memory, and the machine's busy time, from /proc.</summary>
internal static class ProcStat
{
    /// <summary>Clock ticks per second of /proc's time fields (USER_HZ, 100 on Linux).</summary>
    public static readonly double TicksPerSecond = ReadClockTicks();

    private static readonly long PageSize = Environment.SystemPageSize;

    public static double CpuSeconds(int pid)
    {
        // /proc/<pid>/stat: the command name (field 2) may contain spaces; it is in parentheses, so split after ')'.
        var text = File.ReadAllText($"/proc/{pid}/stat");
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // After the name, field 3 (state) is fields[0], so utime (14) is fields[11] and stime (15) is fields[12].
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (utime + stime) / TicksPerSecond;
    }

    /// <summary>Whether <c>ss</c> (iproute2) answered the first time it was asked; if not, segments are not
    /// measured.</summary>
    private static bool? s_hasSs;

    /// <summary>
    /// TCP data segments sent so far on the connections <paramref name="pid"/> has open (<c>ss -tinp</c>'s
    /// <c>data_segs_out</c>, summed over the sockets it owns); null when <c>ss</c> is not installed. On loopback
    /// (MSS 65,483) a send of less than 64 KiB goes out as one segment, so the difference over a round counts the
    /// server's sends; a connection closed during the round takes its count with it.
    /// </summary>
    public static long? TcpDataSegmentsOut(int pid)
    {
        if (s_hasSs == false)
        {
            return null;
        }

        string output;
        try
        {
            var info = new ProcessStartInfo("ss", "-tinpH state established")
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            using var ss = Process.Start(info)!;
            output = ss.StandardOutput.ReadToEnd();
            ss.WaitForExit();
            s_hasSs = true;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            s_hasSs = false;
            return null;
        }

        // Each socket is a line with its owner ("users:((\"dotnet\",pid=N,fd=M))") and a tab-indented line of
        // tcp_info figures.
        var owner = $"pid={pid.ToString(CultureInfo.InvariantCulture)},";
        long total = 0;
        var ours = false;
        foreach (var line in output.Split('\n'))
        {
            if (!line.StartsWith('\t'))
            {
                ours = line.Contains(owner, StringComparison.Ordinal);
                continue;
            }

            const string Field = "data_segs_out:";
            var at = line.IndexOf(Field, StringComparison.Ordinal);
            if (ours && at >= 0)
            {
                var digits = line.AsSpan(at + Field.Length);
                var end = digits.IndexOf(' ');
                total += long.Parse(end < 0 ? digits : digits[..end], CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    /// <summary>Voluntary and involuntary context switches of the process's live threads so far
    /// (<c>/proc/pid/task/*/status</c>; a thread that has exited takes its count with it).</summary>
    public static long ContextSwitches(int pid)
    {
        long total = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)
                        || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        total += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The thread exited while being read.
            }
        }

        return total;
    }

    /// <summary>The file descriptors the process has open now (sockets, files, pipes: /proc/pid/fd).</summary>
    public static int OpenFileDescriptors(int pid) => Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;

    public static long RssBytes(int pid)
    {
        // /proc/<pid>/statm: size resident shared text lib data dt, in pages.
        var fields = File.ReadAllText($"/proc/{pid}/statm").Split(' ');
        return long.Parse(fields[1], CultureInfo.InvariantCulture) * PageSize;
    }

    /// <summary>CPU seconds all processes of the machine spent busy so far (every core; /proc/stat line
    /// 'cpu').</summary>
    public static double MachineBusySeconds()
    {
        using var reader = new StreamReader("/proc/stat");
        var line = reader.ReadLine()!;
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // cpu user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
        long busy = 0;
        for (var i = 1; i < fields.Length && i <= 8; i++)
        {
            if (i is 4 or 5)
            {
                continue;
            }

            busy += long.Parse(fields[i], CultureInfo.InvariantCulture);
        }

        return busy / TicksPerSecond;
    }

    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Trim();

    public static long MemTotalBytes()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                var kb = line["MemTotal:".Length..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
            }
        }

        return 0;
    }

    /// <summary>The soft limit on open files of this process (children inherit it).</summary>
    public static long OpenFilesLimit()
    {
        foreach (var line in File.ReadLines("/proc/self/limits"))
        {
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts[0] == "unlimited" ? long.MaxValue : long.Parse(parts[0], CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    private static double ReadClockTicks()
    {
        try
        {
            using var process = Process.Start(
                new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true });
            var text = process!.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return double.Parse(text, CultureInfo.InvariantCulture);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No getconf: Linux's USER_HZ is 100 on every common architecture.
            return 100;
        }
    }
}

/// <summary>Free TCP ports on loopback: bound once to port 0, then released for the server to take.</summary>
internal static class FreePort
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
