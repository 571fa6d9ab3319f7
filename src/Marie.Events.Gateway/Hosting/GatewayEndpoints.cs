using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Marie.Events.Gateway.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Marie.Events.Gateway.Hosting;

/// <summary>The two Kestrel endpoints: gRPC (HTTP/2 only: h2c, or over TLS) and admin (HTTP/1.1 only, or HTTPS).
/// Kestrel writes the bound end point back into each <see cref="ListenOptions"/>, so port 0 (tests) is read here after
/// start.</summary>
internal sealed class GatewayEndpoints
{
    private ListenOptions? _grpc;
    private ListenOptions? _admin;

    public void Configure(KestrelServerOptions kestrel, GatewayOptions options, X509Certificate2? certificate = null)
    {
        Certificate = certificate;
        if (!ListenAddress.TryParse(options.Host, out var address))
        {
            throw new InvalidOperationException(
                $"gateway.host '{options.Host}' is not an address (validation should have said so)");
        }

        // "*": IPv6 any (dual-stack: IPv4 too) where the OS has IPv6, else IPv4 any.
        address ??= Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;
        kestrel.Listen(address, options.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }

            _grpc = listen;
        });
        kestrel.Listen(address, options.AdminPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }

            _admin = listen;
        });
    }

    /// <summary>Both ports serve TLS (<c>gateway.tls.certificate_path</c> is set).</summary>
    public bool Tls => Certificate is not null;

    /// <summary>The TLS certificate both ports serve, if any.</summary>
    public X509Certificate2? Certificate { get; private set; }

    /// <summary>The gRPC port's protocol, for logs.</summary>
    public string GrpcProtocol => Tls ? "HTTP/2 over TLS" : "h2c";

    /// <summary>The admin port's protocol, for logs.</summary>
    public string AdminProtocol => Tls ? "HTTPS" : "HTTP/1.1";

    /// <summary>The bound gRPC port (after start).</summary>
    public int GrpcPort => BoundPort(_grpc);

    /// <summary>The bound admin port (after start).</summary>
    public int AdminPort => BoundPort(_admin);

    /// <summary>The gRPC end point, for logs.</summary>
    public string GrpcDisplay => _grpc?.IPEndPoint?.ToString() ?? "?";

    /// <summary>The admin end point, for logs.</summary>
    public string AdminDisplay => _admin?.IPEndPoint?.ToString() ?? "?";

    /// <summary>True when the request came in on the admin port.</summary>
    public bool IsAdminRequest(HttpContext context) =>
        _admin?.IPEndPoint is { Port: > 0 } bound && context.Connection.LocalPort == bound.Port;

    private static int BoundPort(ListenOptions? listen) =>
        listen?.IPEndPoint?.Port ?? throw new InvalidOperationException(
            "The gateway has not started: its ports are not bound yet.");
}
