using Marie.Events.LoadTest;
using Marie.Events.LoadTest.Raw;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException)
{
    Console.Error.WriteLine($"Marie.Events.LoadTest: {ex.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

if (options.Help)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

if (options.ChartFrom is { } json)
{
    Console.WriteLine(Marie.Events.LoadTest.Report.Chart.Redraw(json));
    return 0;
}

if (options.ServeRaw)
{
    return await RawServer.RunAsync(options.Port, TimeSpan.FromSeconds(options.HeartbeatSeconds));
}

return await Harness.RunAsync(options);
