using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace Marie.Events.Gateway.Auth;

/// <summary>The one way the gateway holds a key: its SHA-256 (of the key's UTF-8 bytes).</summary>
internal static class ApiKeyHash
{
    /// <summary>Hex characters of a SHA-256 (32 bytes).</summary>
    public const int HexLength = 64;

    /// <summary>Hex characters of a fingerprint: the first 6 bytes of the hash, enough to tell keys apart in
    /// logs and listings and far too few to help guess one.</summary>
    private const int FingerprintHexLength = 12;

    public static byte[] Of(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public static string Hex(byte[] hash) => Convert.ToHexStringLower(hash);

    /// <summary>Parses 64 hex characters (either case).</summary>
    public static bool TryParseHex(string? text, [NotNullWhen(true)] out byte[]? hash)
    {
        hash = null;
        var trimmed = text?.Trim();
        if (trimmed is not { Length: HexLength } || !trimmed.All(Uri.IsHexDigit))
        {
            return false;
        }

        hash = Convert.FromHexString(trimmed);
        return true;
    }

    /// <summary>A short, non-secret name for a key: <c>sha256:</c> and the first 12 hex characters of its
    /// hash.</summary>
    public static string Fingerprint(byte[] hash) => "sha256:" + Hex(hash)[..FingerprintHexLength];
}
