// `pnpm bench memory`: what a stage's memory is made of at the full ChatGLM-6B width: its weights
// (int4 everywhere by default) and its KV cache, which is reserved at full length per slot but
// grows in memory with the positions sequences actually use (the operating system commits a slab's
// pages as they are first written; docs/performance.md, "KV cache"). The cache is measured on its
// own (the stage's KvCache, written as a stage writes it), so that ONNX Runtime's buffers do not
// blur the figure. From the figures it reports how many 2,048-token conversations fit beside the
// weights in 16 GiB.
//
// `--quick` builds 3 layers at full width instead of 28; the weights' figure is then extrapolated
// and says so.
import v8 from 'node:v8';
import vm from 'node:vm';
import { KvCache } from '@chatglm/runtime';
import { parseBenchOptions } from './support/bench-options.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { openRandomModel } from './support/random-model.ts';
import { stageWeightBytes } from './support/weight-bytes.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const QUICK_LAYERS = 3;
const BUDGET_BYTES = 16 * GiB;
const CONVERSATION = 2048;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** RSS after a full garbage collection (the benchmark's own arrays of random weights are freed). */
function settledRss(): number {
  gc();
  return process.memoryUsage().rss;
}

export async function runMemoryBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { quick, quantization, threads, json, own } = parseBenchOptions(argv, { slots: '8', long: '512' });
  const slots = Number(own.slots);
  const long = Number(own.long);
  const layers = quick ? QUICK_LAYERS : CHATGLM_6B.numLayers;
  const L = CHATGLM_6B.numLayers;
  const { hiddenSize: H, numHeads: heads } = CHATGLM_6B;
  const headDim = H / heads;
  const figures: BenchFigure[] = [];
  console.log(`memory benchmark: ChatGLM-6B width, ${layers} layers, linears ${quantization.linears}, lm_head ${quantization.embedding}; KV cache of ${slots} slots of ${CONVERSATION} positions`);

  // 1. The weights: RSS of a loaded stage (with one KV slot of 1 position, which touches nothing).
  const before = settledRss();
  const model = await openRandomModel(layers, quantization, { streams: 1, steps: 0, threads, capacity: 1 });
  const weightsRss = settledRss() - before;
  await model.stage.close();
  const fullWeightsRss = quick ? weightsRss + (L - layers) * stageWeightBytes(CHATGLM_6B, 1, quantization, false) : weightsRss;
  console.log(`  loaded ${layers} layers with the embedding and lm_head: RSS +${(weightsRss / GiB).toFixed(2)} GiB`);

  // 2. The KV cache of every layer, written position by position as the stage writes it.
  const cache = new KvCache({ layers: Array.from({ length: L }, (_, i) => i), heads, headDim, slots, capacity: CONVERSATION });
  const reserved = 2 * L * slots * CONVERSATION * H * 4;
  const row = new Float32Array(heads * headDim).fill(0.5);
  const fill = (to: number) => {
    for (let s = 0; s < slots; s++) {
      if (cache.activeSequences < slots) cache.allocate(`s${s}`);
      for (let t = cache.length(s); t < to; t++) {
        for (let l = 0; l < L; l++) cache.append(l, s, 1, row, 0, row, 0, { tokens: 1 });
        cache.advance(s, 1);
      }
    }
  };
  const empty = settledRss();
  fill(18);
  const short = settledRss();
  fill(long);
  const longer = settledRss();
  const perPosition = (longer - short) / (slots * (long - 18)); // bytes, all layers
  console.log(`  KV slabs reserved ${(reserved / GiB).toFixed(1)} GiB; RSS +${((short - empty) / MiB).toFixed(0)} MiB for ${slots} sequences of 18 positions, +${((longer - empty) / MiB).toFixed(0)} MiB at ${long} positions`);

  const note = quick ? `extrapolated from ${QUICK_LAYERS} layers` : undefined;
  const conversationBytes = perPosition * CONVERSATION;
  figures.push(figure('memory', `RSS of a loaded stage of ${L} layers with the embedding and lm_head (${quantization.linears})`, fullWeightsRss / GiB, 'GiB', undefined, note));
  figures.push(figure('memory', `KV cache reserved (virtual) for ${slots} slots of ${CONVERSATION} positions`, reserved / GiB, 'GiB'));
  figures.push(figure('memory', `KV cache resident for ${slots} sequences of 18 positions`, (short - empty) / MiB, 'MiB'));
  figures.push(figure('memory', `KV cache resident for ${slots} sequences of ${long} positions`, (longer - empty) / MiB, 'MiB'));
  figures.push(figure('memory', 'KV cache resident per position, all layers (fp32 keys and values: 896 KiB)', perPosition / 1024, 'KiB'));
  figures.push(figure('memory', `${CONVERSATION}-token conversations that fit beside the weights in 16 GiB`, Math.floor((BUDGET_BYTES - fullWeightsRss) / conversationBytes), 'conversations', undefined, note));
  printFigures(figures);
  if (json) writeFigures(json, figures);
  return figures;
}
