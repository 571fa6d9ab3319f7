using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Marie.Events.FunctionalTests.Infrastructure;
using Marie.Events.Protocol;

namespace Marie.Events.FunctionalTests.Security;

/// <summary>gateway.tls.*: with a certificate (self-signed, made here), both ports serve TLS.</summary>
public sealed class TlsTests
{
    private const string Password = "test-only-password";

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(
            new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(1));
    }

    /// <summary>A handler that trusts exactly <paramref name="certificate"/>.</summary>
    private static SocketsHttpHandler Pinned(X509Certificate2 certificate) => new()
    {
        SslOptions =
        {
            RemoteCertificateValidationCallback = (_, presented, _, _) =>
                presented is not null && presented.GetCertHashString() == certificate.Thumbprint,
        },
    };

    private static async Task AssertServesTlsAsync(GatewayFixture gateway, X509Certificate2 certificate)
    {
        using var channel = GrpcChannel.ForAddress(
            $"https://127.0.0.1:{gateway.Ports.Grpc}",
            new GrpcChannelOptions { HttpHandler = Pinned(certificate) });
        var reply = await new EventStreamService.EventStreamServiceClient(channel)
            .GetReplayBufferAsync(new ReplayRequest { Topic = "tls" }, GatewayFixture.Auth(gateway.Keys.Subscriber));
        using var admin = new HttpClient(Pinned(certificate)) { Timeout = GatewayFixture.Timeout };
        using var request = new HttpRequestMessage(
            HttpMethod.Get,
            $"https://127.0.0.1:{gateway.Ports.Admin}/internal/stats");
        request.Headers.Authorization = new("Bearer", gateway.Keys.Admin);
        using var stats = await admin.SendAsync(request);

        Assert.Equal(0, reply.TopicHead);
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.Contains(
            gateway.Logs.Entries,
            e => e.EventId.Id == 6012 && e.Message.Contains(certificate.Thumbprint, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tls_Pkcs12Certificate_GrpcAndAdminServedOverTlsPlaintextRefused()
    {
        using var certificate = SelfSigned();
        using var dir = new TempDirectory();
        var pfx = dir.File("gateway.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pkcs12, Password));
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["gateway:tls:certificate_path"] = pfx;
            s.Config["gateway:tls:password"] = Password;
        });

        await AssertServesTlsAsync(gateway, certificate);
        var plaintext = await Assert.ThrowsAsync<RpcException>(() =>
            gateway.Streams.GetReplayBufferAsync(
                new ReplayRequest { Topic = "tls" },
                GatewayFixture.Auth(gateway.Keys.Subscriber)).ResponseAsync);
        Assert.NotEqual(StatusCode.OK, plaintext.StatusCode);
    }

    [Fact]
    public async Task Tls_PemCertificateAndKey_Served()
    {
        using var certificate = SelfSigned();
        using var dir = new TempDirectory();
        var certPath = dir.File("gateway.crt");
        var keyPath = dir.File("gateway.key");
        await File.WriteAllTextAsync(certPath, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(keyPath, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        await using var gateway = await GatewayFixture.StartAsync(s =>
        {
            s.Config["gateway:tls:certificate_path"] = certPath;
            s.Config["gateway:tls:key_path"] = keyPath;
        });

        await AssertServesTlsAsync(gateway, certificate);
    }

    [Fact]
    public async Task Tls_MissingCertificateOrWrongPassword_StartupFailsNamingTheKey()
    {
        using var certificate = SelfSigned();
        using var dir = new TempDirectory();
        var pfx = dir.File("gateway.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pkcs12, Password));

        foreach (var (path, password) in new[] { (dir.File("missing.pfx"), Password), (pfx, "wrong-password") })
        {
            var settings = new GatewaySettings();
            settings.Config["gateway:tls:certificate_path"] = path;
            settings.Config["gateway:tls:password"] = password;
            await using var app = GatewayFixture.Build(settings);

            var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());

            Assert.Contains("gateway.tls.certificate_path", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(password, error.Message, StringComparison.Ordinal);
        }
    }
}
