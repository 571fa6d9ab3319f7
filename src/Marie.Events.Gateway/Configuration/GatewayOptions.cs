using Microsoft.Extensions.Configuration;

namespace Marie.Events.Gateway.Configuration;

/// <summary>The <c>gateway.*</c> section: where the host listens and keeps its local state.</summary>
internal sealed class GatewayOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "gateway";

    /// <summary>Default gRPC (h2c) port: Marie-AI's, which its clients and grpcurl examples use.</summary>
    public const int DefaultPort = 51001;

    /// <summary>Default admin (HTTP/1.1) port: the one after the gRPC port.</summary>
    public const int DefaultAdminPort = 51002;

    /// <summary>Address to listen on: <c>*</c> (any IPv4/IPv6 address), <c>localhost</c> or an IP literal.</summary>
    [ConfigurationKeyName("host")]
    public string Host { get; set; } = "*";

    /// <summary>gRPC port (0 = any free port, for tests).</summary>
    [ConfigurationKeyName("port")]
    public int Port { get; set; } = DefaultPort;

    /// <summary>Admin API port (0 = any free port, for tests).</summary>
    [ConfigurationKeyName("admin_port")]
    public int AdminPort { get; set; } = DefaultAdminPort;

    /// <summary>Folder for local state (first-run development keys), relative to the working folder.</summary>
    [ConfigurationKeyName("state_dir")]
    public string StateDir { get; set; } = ".marie-events";
}
