using Marie.Events.Gateway;
using Marie.Events.Gateway.Auth;

return KeysCommand.Matches(args)
    ? KeysCommand.Run(args, Console.Out, Console.Error)
    : await GatewayHost.RunAsync(args).ConfigureAwait(false);
