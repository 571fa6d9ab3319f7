using System.Text;

namespace Marie.Events.Broker.Storage;

/// <summary>The bytes of a <see cref="DurableSnapshot"/>: a version byte, then length-prefixed UTF-8 strings and
/// 7-bit encoded numbers (BinaryWriter's forms). Small, with no dependency, the same in every store.</summary>
internal static class DurableSnapshotCodec
{
    /// <summary>The form's version; a reader refuses others.</summary>
    private const byte Version = 1;

    public static byte[] Encode(DurableSnapshot snapshot)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Version);
            writer.Write(snapshot.Key);
            writer.Write(snapshot.Name);
            writer.Write(snapshot.Group);
            writer.Write(snapshot.LastActiveAt.ToUnixTimeMilliseconds());
            writer.Write7BitEncodedInt(snapshot.Topics.Count);
            foreach (var topic in snapshot.Topics)
            {
                writer.Write(topic.Topic);
                writer.Write(topic.Epoch);
                writer.Write7BitEncodedInt64(topic.Acked);
                writer.Write7BitEncodedInt64(topic.Delivered);
                writer.Write7BitEncodedInt(topic.Pending.Count);
                foreach (var pending in topic.Pending)
                {
                    writer.Write7BitEncodedInt64(pending.Sequence);
                    writer.Write7BitEncodedInt(pending.Attempts);
                }
            }
        }

        return buffer.ToArray();
    }

    public static DurableSnapshot Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            using var buffer = new MemoryStream(bytes.ToArray(), writable: false);
            using var reader = new BinaryReader(buffer, Encoding.UTF8);
            var version = reader.ReadByte();
            if (version != Version)
            {
                throw new FormatException($"durable snapshot version {version} is not known (expected {Version})");
            }

            var key = reader.ReadString();
            var name = reader.ReadString();
            var group = reader.ReadString();
            var lastActive = DateTimeOffset.FromUnixTimeMilliseconds(reader.ReadInt64());
            var topics = new DurableTopicSnapshot[reader.Read7BitEncodedInt()];
            for (var i = 0; i < topics.Length; i++)
            {
                var topic = reader.ReadString();
                var epoch = reader.ReadString();
                var acked = reader.Read7BitEncodedInt64();
                var delivered = reader.Read7BitEncodedInt64();
                var pending = new DurablePending[reader.Read7BitEncodedInt()];
                for (var j = 0; j < pending.Length; j++)
                {
                    pending[j] = new DurablePending(reader.Read7BitEncodedInt64(), reader.Read7BitEncodedInt());
                }

                topics[i] = new DurableTopicSnapshot(topic, epoch, acked, delivered, pending);
            }

            return new DurableSnapshot(key, name, group, lastActive, topics);
        }
        catch (EndOfStreamException ex)
        {
            throw new FormatException("durable snapshot is truncated", ex);
        }
    }
}
