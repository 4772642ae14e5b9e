// `pnpm bench all [--quick] [--json FILE]`: every part of the performance benchmark in one run, one
// table and one JSON list of figures. Parts not built yet are named, not skipped in silence.
import { parseArgs } from 'node:util';
import { runBatchBenchmark } from './batch.ts';
import { runDecodeBenchmark } from './decode.ts';
import { runMemoryBenchmark } from './memory.ts';
import { runPrefillBenchmark } from './prefill.ts';
import { printFigures, writeFigures } from './support/figures.ts';

/** The parts of docs/performance.md, "Targets", that have no benchmark yet. */
const NOT_BUILT = ['cluster'];

export async function runAllBenchmarks(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } } });
  const common = values.quick ? ['--quick'] : [];
  const figures = [...(await runDecodeBenchmark(common)), ...(await runBatchBenchmark(common)), ...(await runPrefillBenchmark(common)), ...(await runMemoryBenchmark(common))];
  console.log('\nall parts:');
  printFigures(figures);
  console.log(`\nnot built yet: ${NOT_BUILT.join(', ')}`);
  if (values.json) writeFigures(values.json, figures);
}
