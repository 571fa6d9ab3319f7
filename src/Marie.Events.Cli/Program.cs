using Marie.Events.Cli;

// Ctrl-C cancels the running command (subscribe ends cleanly); `serve` leaves it to the gateway host.
using var interrupt = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupt.Cancel();
};

return await CliApp.RunAsync(args, CliContext.ForProcess(), interrupt.Token).ConfigureAwait(false);
