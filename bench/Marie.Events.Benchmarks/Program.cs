using BenchmarkDotNet.Running;
using Marie.Events.Benchmarks;

// dotnet run -c Release --project bench/Marie.Events.Benchmarks -- --filter '*'            (all, default job)
// dotnet run -c Release --project bench/Marie.Events.Benchmarks -- --filter '*' --job short (quicker, noisier)
// dotnet run -c Release --project bench/Marie.Events.Benchmarks -- --steady-dispatch        (plain vs durable)
if (args is ["--steady-dispatch"])
{
    SteadyDispatch.Run();
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(BenchBroker).Assembly).Run(args);
