using System.Diagnostics;
using System.Globalization;

namespace Marie.Events.Benchmarks;

/// <summary>
/// <see cref="DispatchBenchmarks.PublishAndWrite"/> in steady state, plain and durable side by side: 2,000,000
/// deliveries per case after a quarter as many of warm-up, on one thread; the best time of 5 tries, and the bytes
/// this thread allocated per delivery (BenchmarkDotNet's short job reports the growth of its few thousand operations
/// instead). <c>dotnet run -c Release -- --steady-dispatch</c>.
/// </summary>
public static class SteadyDispatch
{
    /// <summary>Deliveries measured per case (about a second with 100 subscriptions on the shared machine).</summary>
    private const int Deliveries = 2_000_000;

    /// <summary>Tries per case: the best is the one least disturbed by the machine's other work.</summary>
    private const int Tries = 5;

    public static void Run()
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (var subscriptions in new[] { 1, 10, 100 })
        {
            foreach (var durable in new[] { false, true })
            {
                var best = double.MaxValue;
                var bytes = 0.0;
                for (var t = 0; t < Tries; t++)
                {
                    var bench = new DispatchBenchmarks { Subscriptions = subscriptions, Durable = durable };
                    bench.Setup();
                    var operations = Deliveries / subscriptions;
                    for (var i = 0; i < operations / 4; i++)
                    {
                        bench.PublishAndWrite();
                    }

                    var allocated = GC.GetAllocatedBytesForCurrentThread();
                    var started = Stopwatch.GetTimestamp();
                    for (var i = 0; i < operations; i++)
                    {
                        bench.PublishAndWrite();
                    }

                    best = Math.Min(best, Stopwatch.GetElapsedTime(started).TotalNanoseconds / Deliveries);
                    bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)Deliveries;
                }

                Console.WriteLine(string.Create(inv, $"subscriptions {subscriptions,3} durable {durable,-5}: "
                    + $"{best,6:F0} ns per delivery, {bytes,6:F1} B per delivery"));
            }
        }
    }
}
