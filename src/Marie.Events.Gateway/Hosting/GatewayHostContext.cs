namespace Marie.Events.Gateway.Hosting;

/// <summary>What <see cref="GatewayHost.Build(GatewayHostOptions)"/> learned before the services existed.</summary>
/// <param name="ConfigurationSource">Where the configuration came from (for the start-up log).</param>
/// <param name="Console">Where the one-time development key block is printed.</param>
/// <param name="GrpcEnabled"><c>toast.grpc.enabled</c>, read at build time because it decides what is mapped.</param>
/// <param name="ConfigurationFile">The configuration file's full path (watched for key changes); null for the
/// embedded default.</param>
internal sealed record GatewayHostContext(
    string ConfigurationSource,
    TextWriter Console,
    bool GrpcEnabled,
    string? ConfigurationFile = null);
