using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Marie.Events.Benchmarks -- --filter '*'            (all, default job)
// dotnet run -c Release --project bench/Marie.Events.Benchmarks -- --filter '*' --job short (quicker, noisier)
BenchmarkSwitcher.FromAssembly(typeof(Marie.Events.Benchmarks.BenchBroker).Assembly).Run(args);
