using System.Net.Http.Headers;
using System.Text;

namespace Marie.Events.FunctionalTests.Infrastructure;

/// <summary>
/// An HTTP handler for a gRPC channel that keeps a copy of everything the server sent: status lines, headers,
/// every byte of every response body (the gRPC frames), and trailers.
/// </summary>
public sealed class CapturingHandler() : DelegatingHandler(new SocketsHttpHandler())
{
    private readonly Lock _gate = new();
    private readonly MemoryStream _bytes = new();
    private readonly List<HttpResponseMessage> _responses = [];

    /// <summary>Everything captured so far: body bytes, then the headers and trailers as UTF-8 text.</summary>
    public byte[] Snapshot()
    {
        lock (_gate)
        {
            var all = new MemoryStream();
            _bytes.WriteTo(all);
            foreach (var response in _responses)
            {
                var text = new StringBuilder();
                Append(text, response.Headers);
                Append(text, response.Content.Headers);
                Append(text, response.TrailingHeaders);
                all.Write(Encoding.UTF8.GetBytes(text.ToString()));
            }

            return all.ToArray();
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(
        HttpRequestMessage request,
        CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        var original = response.Content;
        var body = await original.ReadAsStreamAsync(cancellationToken);
        var content = new StreamContent(new TeeStream(body, this));
        foreach (var header in original.Headers)
        {
            content.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Content = content;
        lock (_gate)
        {
            _responses.Add(response);
        }

        return response;
    }

    private void Record(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            _bytes.Write(data);
        }
    }

    private static void Append(StringBuilder text, HttpHeaders headers)
    {
        foreach (var (name, values) in headers)
        {
            text.Append(name).Append(": ").AppendJoin(", ", values).Append('\n');
        }
    }

    /// <summary>A read-only stream that records what is read through it.</summary>
    private sealed class TeeStream(Stream inner, CapturingHandler owner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            owner.Record(buffer.AsSpan(offset, read));
            return read;
        }

        public override async ValueTask<int> ReadAsync(
            Memory<byte> buffer,
            CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken);
            owner.Record(buffer.Span[..read]);
            return read;
        }

        public override Task<int> ReadAsync(
            byte[] buffer,
            int offset,
            int count,
            CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
