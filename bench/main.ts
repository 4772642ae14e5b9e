// `pnpm bench <name>`: benchmarks print figures measured side by side in one run (never tests).
const BENCHMARKS: Record<string, () => Promise<void>> = {
  all: async () => (await import('./all.ts')).runAllBenchmarks(process.argv.slice(3)),
  batch: async () => void (await import('./batch.ts')).runBatchBenchmark(process.argv.slice(3)),
  decode: async () => void (await import('./decode.ts')).runDecodeBenchmark(process.argv.slice(3)),
  prefill: async () => void (await import('./prefill.ts')).runPrefillBenchmark(process.argv.slice(3)),
  cluster: async () => void (await import('./cluster.ts')).runClusterBenchmark(process.argv.slice(3)),
  load: async () => void (await import('./load.ts')).runLoadBenchmark(process.argv.slice(3)),
  recovery: async () => void (await import('./recovery.ts')).runRecoveryBenchmark(process.argv.slice(3)),
  memory: async () => void (await import('./memory.ts')).runMemoryBenchmark(process.argv.slice(3)),
  engine: async () => (await import('./engine.ts')).runEngineBenchmark(process.argv.slice(3)),
  convert: async () => (await import('./convert.ts')).runConvertBenchmark(process.argv.slice(3)),
};

const name = process.argv[2];
const run = name ? BENCHMARKS[name] : undefined;
if (!run) {
  console.error(`usage: pnpm bench <${Object.keys(BENCHMARKS).join('|')}> [options]`);
  process.exit(2);
}
await run();
