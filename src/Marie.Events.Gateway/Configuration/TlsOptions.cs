using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Marie.Events.Gateway.Configuration;

/// <summary>
/// <c>gateway.tls.*</c>: with a certificate configured, both ports serve TLS (gRPC as HTTP/2 over TLS, the admin
/// API as HTTPS), so keys never travel in clear. Without one, both are plain (h2c and HTTP/1.1).
/// </summary>
internal sealed class TlsOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "gateway:tls";

    /// <summary>The certificate: a PKCS#12 file (<c>.pfx</c>, <c>.p12</c>) or a PEM file. Empty: no TLS.</summary>
    [ConfigurationKeyName("certificate_path")]
    public string CertificatePath { get; set; } = "";

    /// <summary>The PEM private key, when the PEM certificate file does not hold it.</summary>
    [ConfigurationKeyName("key_path")]
    public string KeyPath { get; set; } = "";

    /// <summary>The PKCS#12 password, or the password of an encrypted PEM key.</summary>
    [ConfigurationKeyName("password")]
    public string Password { get; set; } = "";

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}

/// <summary>Loads the configured certificate (with its private key).</summary>
internal static class TlsCertificateLoader
{
    /// <exception cref="InvalidOperationException">The files cannot be read or do not hold a certificate with its
    /// private key (the message names the key to fix, never the password).</exception>
    public static X509Certificate2 Load(TlsOptions options)
    {
        var certificatePath = Path.GetFullPath(options.CertificatePath);
        if (!File.Exists(certificatePath))
        {
            throw new InvalidOperationException($"gateway.tls.certificate_path: file not found: {certificatePath}");
        }

        var keyPath = string.IsNullOrWhiteSpace(options.KeyPath) ? null : Path.GetFullPath(options.KeyPath);
        if (keyPath is not null && !File.Exists(keyPath))
        {
            throw new InvalidOperationException($"gateway.tls.key_path: file not found: {keyPath}");
        }

        X509Certificate2 certificate;
        try
        {
            var extension = Path.GetExtension(certificatePath).ToUpperInvariant();
            if (extension is ".PFX" or ".P12")
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(
                    certificatePath,
                    string.IsNullOrEmpty(options.Password) ? null : options.Password);
            }
            else if (string.IsNullOrEmpty(options.Password))
            {
                certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            }
            else
            {
                certificate = X509Certificate2.CreateFromEncryptedPemFile(certificatePath, options.Password, keyPath);
            }
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or ArgumentException)
        {
            throw new InvalidOperationException(
                $"gateway.tls.certificate_path: cannot load the certificate from {certificatePath}: {ex.Message}",
                ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidOperationException(
                $"gateway.tls.certificate_path: {certificatePath} has no private key (set gateway.tls.key_path)");
        }

        return certificate;
    }
}

/// <summary>Validates <c>gateway.tls.*</c> by loading the certificate.</summary>
internal sealed class TlsOptionsValidator : IValidateOptions<TlsOptions>
{
    public ValidateOptionsResult Validate(string? name, TlsOptions options)
    {
        if (!options.Enabled)
        {
            return !string.IsNullOrWhiteSpace(options.KeyPath)
                ? ValidateOptionsResult.Fail("gateway.tls.key_path is set but gateway.tls.certificate_path is not")
                : ValidateOptionsResult.Success;
        }

        try
        {
            using var certificate = TlsCertificateLoader.Load(options);
            return ValidateOptionsResult.Success;
        }
        catch (InvalidOperationException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
