using System.Threading.Channels;
using Marie.Events.Protocol;
using Microsoft.Extensions.Logging;

namespace Marie.Events.Gateway.Toast;

/// <summary>
/// The native toast handler: every event it is handed is appended to <c>toast.native.path</c> as one line, the
/// JSON form of <see cref="EventData"/> (proto field names, as <c>marie-events publish --file</c> reads it), with
/// size-based rotation. The line is formatted when the event is handed over and written by one writer loop, which
/// flushes to the operating system after each batch. It never slows publishers: when its queue is full the event is
/// not recorded (a warning, counted); a write error loses that batch (logged, counted) and the next batch reopens
/// the file.
/// </summary>
internal sealed partial class NativeToastHandler : IToastHandler, IDisposable
{
    public const string HandlerName = "native";

    private readonly Channel<byte[]> _lines;
    private readonly NativeEventLog _log;
    private readonly ILogger _logger;
    private readonly QueueFullLog _queueFull;
    private Task _writer = Task.CompletedTask;
    private int _queued;
    private long _written;
    private long _dropped;
    private long _writeFailures;
    private long _notWritten;
    private bool _failing;

    public NativeToastHandler(
        NativeToastSettings settings,
        ILogger<NativeToastHandler> logger,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        _logger = logger;
        _queueFull = new QueueFullLog(logger, HandlerName, time ?? TimeProvider.System);
        _log = new NativeEventLog(settings.Path, settings.MaxBytes, settings.MaxFiles);
        _lines = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(settings.QueueMaxSize)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public string Name => HandlerName;

    public NativeToastSettings Settings { get; }

    public ValueTask<ToastReceipt> HandleAsync(EventData evt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        var line = NativeEventJson.Line(evt);
        if (_lines.Writer.TryWrite(line))
        {
            Interlocked.Increment(ref _queued);
        }
        else
        {
            Interlocked.Increment(ref _dropped);
            _queueFull.Dropped(evt);
        }

        return ValueTask.FromResult(ToastReceipt.Accepted);
    }

    /// <summary>Starts the writer loop.</summary>
    public void Start() => _writer = Task.Run(WriteLoopAsync);

    /// <summary>Takes no more lines, writes what is queued (at most <paramref name="timeout"/>), closes the file.
    /// Returns how many queued lines were not written.</summary>
    public async Task<long> StopAsync(TimeSpan timeout, TimeProvider time)
    {
        _lines.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(timeout, time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The disk is stuck: what is still queued is reported as not written.
            var left = Volatile.Read(ref _queued);
            Interlocked.Add(ref _notWritten, left);
            return left;
        }

        return Interlocked.Read(ref _notWritten);
    }

    private async Task WriteLoopAsync()
    {
        var reader = _lines.Reader;
        var batch = new List<byte[]>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (reader.TryRead(out var line))
            {
                batch.Add(line);
            }

            WriteBatch(batch);
            Interlocked.Add(ref _queued, -batch.Count);
        }

        _log.Close();
    }

    private void WriteBatch(List<byte[]> batch)
    {
        var written = 0;
        try
        {
            foreach (var line in batch)
            {
                _log.Append(line);
                written++;
            }

            _log.Flush();
            Interlocked.Add(ref _written, written);
            if (_failing)
            {
                _failing = false;
                ToastLog.NativeWriteRecovered(_logger, _log.Path);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Lines appended before the error may sit in the lost buffer: the whole batch counts as not written.
            _log.Close();
            if (!_failing)
            {
                _failing = true;
                ToastLog.NativeWriteFailed(_logger, _log.Path, batch.Count, ex);
            }
            else
            {
                ToastLog.NativeWriteFailedAgain(_logger, _log.Path, batch.Count, ex.Message);
            }

            Interlocked.Add(ref _writeFailures, batch.Count);
        }
    }

    /// <summary>A snapshot of the handler's figures.</summary>
    public NativeToastStats Stats() => new(
        Settings.Path,
        Volatile.Read(ref _queued),
        Settings.QueueMaxSize,
        Interlocked.Read(ref _written),
        Interlocked.Read(ref _dropped),
        Interlocked.Read(ref _writeFailures),
        _log.Rotations);

    public void Dispose() => _log.Dispose();
}

/// <summary>The native handler's figures (the <c>toast.native</c> part of the stats JSON).</summary>
/// <param name="Path">The file.</param>
/// <param name="QueueDepth">Lines waiting to be written.</param>
/// <param name="QueueMaxsize">The queue's size.</param>
/// <param name="EventsWritten">Lines written and flushed.</param>
/// <param name="EventsDropped">Events not recorded because the queue was full.</param>
/// <param name="WriteFailures">Lines lost to write errors.</param>
/// <param name="Rotations">Files rotated.</param>
internal sealed record NativeToastStats(
    string Path,
    int QueueDepth,
    int QueueMaxsize,
    long EventsWritten,
    long EventsDropped,
    long WriteFailures,
    long Rotations);
