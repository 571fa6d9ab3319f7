namespace Marie.Events.Gateway.Toast;

/// <summary>
/// The native handler's file: lines appended to <c>PATH</c>; when the next line would take it past
/// <c>max_bytes</c>, <c>PATH</c> becomes <c>PATH.1</c> (older ones shift to <c>.2</c> … <c>.max_files</c>, the
/// oldest beyond is deleted) and a fresh <c>PATH</c> is started. Used by one writer at a time.
/// </summary>
internal sealed class NativeEventLog(string path, long maxBytes, int maxFiles) : IDisposable
{
    /// <summary>Owner read/write only (mode 600): events carry tenants' payloads.</summary>
    private const UnixFileMode FileMode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Owner only (mode 700) for a folder the log creates.</summary>
    private const UnixFileMode DirMode700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Write buffer: batches of small lines reach the file in few system calls.</summary>
    private const int BufferSize = 64 * 1024;

    private FileStream? _stream;
    private long _size;

    public string Path { get; } = path;

    private long _rotations;

    /// <summary>Files rotated so far (read from any thread).</summary>
    public long Rotations => Interlocked.Read(ref _rotations);

    /// <summary>Appends one line (UTF-8, with its newline), rotating first when needed.</summary>
    public void Append(ReadOnlySpan<byte> line)
    {
        var stream = _stream ?? Open();
        if (_size > 0 && _size + line.Length > maxBytes)
        {
            Rotate();
            stream = Open();
        }

        stream.Write(line);
        _size += line.Length;
    }

    /// <summary>Hands what was appended to the operating system.</summary>
    public void Flush() => _stream?.Flush();

    /// <summary>Closes the file (after a write error, so the next append reopens it).</summary>
    public void Close()
    {
        var stream = _stream;
        _stream = null;
        try
        {
            stream?.Dispose();
        }
        catch (IOException)
        {
            // The buffered bytes could not be written: the caller already counts the batch as lost.
        }
    }

    public void Dispose() => Close();

    private FileStream Open()
    {
        var dir = System.IO.Path.GetDirectoryName(Path);
        if (!string.IsNullOrEmpty(dir) && !Directory.Exists(dir))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(dir);
            }
            else
            {
                Directory.CreateDirectory(dir, DirMode700);
            }
        }

        var options = new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            BufferSize = BufferSize,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode600;
        }

        _stream = new FileStream(Path, options);
        _size = _stream.Length;
        return _stream;
    }

    private void Rotate()
    {
        Close();
        if (maxFiles == 0)
        {
            File.Delete(Path);
        }
        else
        {
            File.Delete(Rotated(maxFiles));
            for (var i = maxFiles - 1; i >= 1; i--)
            {
                if (File.Exists(Rotated(i)))
                {
                    File.Move(Rotated(i), Rotated(i + 1));
                }
            }

            File.Move(Path, Rotated(1));
        }

        _size = 0;
        Interlocked.Increment(ref _rotations);
    }

    private string Rotated(int index) => $"{Path}.{index}";
}
