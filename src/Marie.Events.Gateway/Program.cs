using Marie.Events.Gateway;

return await GatewayHost.RunAsync(args).ConfigureAwait(false);
