using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Marie.Events.Gateway.Hosting;

/// <summary>Console logging: the simple formatter, one line per entry, UTC timestamps.</summary>
internal static class GatewayLogging
{
    public static void Configure(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
        logging.SetMinimumLevel(level);
        // ASP.NET Core's per-request lines would drown the gateway's own at Information and Debug.
        logging.AddFilter("Microsoft.AspNetCore", level > LogLevel.Warning ? level : LogLevel.Warning);
    }
}
