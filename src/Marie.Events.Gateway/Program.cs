using Marie.Events.Gateway;
using Marie.Events.Gateway.Commands;

return GatewayKeysCommand.Matches(args)
    ? GatewayKeysCommand.Run(args, Console.Out, Console.Error)
    : await GatewayHost.RunAsync(args).ConfigureAwait(false);
