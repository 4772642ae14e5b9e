// `pnpm bench all [--quick] [--json FILE]`: every part of the performance benchmark in one run, one
// table and one JSON list of figures.
import { parseArgs } from 'node:util';
import { runBatchBenchmark } from './batch.ts';
import { runClusterBenchmark } from './cluster.ts';
import { runDecodeBenchmark } from './decode.ts';
import { runMemoryBenchmark } from './memory.ts';
import { runPrefillBenchmark } from './prefill.ts';
import { printFigures, writeFigures } from './support/figures.ts';

export async function runAllBenchmarks(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } } });
  const common = values.quick ? ['--quick'] : [];
  const figures = [...(await runDecodeBenchmark(common)), ...(await runBatchBenchmark(common)), ...(await runPrefillBenchmark(common)), ...(await runMemoryBenchmark(common)), ...(await runClusterBenchmark(common))];
  console.log('\nall parts:');
  printFigures(figures);
  if (values.json) writeFigures(values.json, figures);
}
