// `pnpm bench memory`: what a stage's memory is made of at the full ChatGLM-6B width: its weights
// (int4 everywhere by default) and its KV cache (fp16 by default with int4, measured beside fp32),
// which is reserved at full length per slot but
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
import { readBundleManifest, type KvCacheDtype } from '@chatglm/glm';
import { KvCache, StageExecutor } from '@chatglm/runtime';
import { parseBenchOptions } from './support/bench-options.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { randomConvertedModel } from './support/random-converted-model.ts';
import { stageWeightBytes } from './support/weight-bytes.ts';

const GiB = 2 ** 30;

/** The bytes of a bundle's graph and weight files (what a loaded stage is made from). */
function bundleWeightBytes(dir: string): number {
  return readBundleManifest(dir).files.reduce((sum, f) => sum + f.bytes, 0);
}
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

  // 1. The weights: RSS of a stage loaded as workers load it, from its converted bundle (with one
  // KV slot of 1 position, which touches nothing). Built in memory instead, the stage would also
  // count the arrays the graph was built from.
  const model = await randomConvertedModel(layers, 1, quantization);
  const bundleBytes = bundleWeightBytes(model.stageDirs[0]!);
  const before = settledRss();
  const stage = await StageExecutor.create({ config: model.config, range: model.ranges[0]!, weights: { kind: 'bundle', dir: model.stageDirs[0]! }, maxSequences: 1, maxTokensPerSequence: 1, threads });
  const weightsRss = settledRss() - before;
  await stage.close();
  const fullWeightsRss = quick ? weightsRss + (L - layers) * stageWeightBytes(CHATGLM_6B, 1, quantization, false) : weightsRss;
  console.log(`  loaded ${layers} layers with the embedding and lm_head from a bundle of ${(bundleBytes / GiB).toFixed(2)} GiB: RSS +${(weightsRss / GiB).toFixed(2)} GiB (${(weightsRss / bundleBytes).toFixed(2)}x its bytes)`);

  // 2. The KV cache of every layer, written position by position as the stage writes it, in the
  // dtype the flags give (fp16 with int8/int4) and in the other one, side by side.
  const note = quick ? `extrapolated from ${QUICK_LAYERS} layers` : undefined;
  figures.push(figure('memory', `RSS of a loaded stage of ${L} layers with the embedding and lm_head (${quantization.linears})`, fullWeightsRss / GiB, 'GiB', undefined, note));
  figures.push(figure('memory', `RSS of a loaded stage of ${layers} layers over its bundle's bytes`, weightsRss / bundleBytes, 'x'));
  const dtypes: KvCacheDtype[] = quantization.kvCache === 'float16' ? ['float16', 'float32'] : ['float32', 'float16'];
  for (const dtype of dtypes) {
    const bytes = dtype === 'float16' ? 2 : 4;
    const cache = new KvCache({ layers: Array.from({ length: L }, (_, i) => i), heads, headDim, slots, capacity: CONVERSATION, dtype });
    const reserved = 2 * L * slots * CONVERSATION * H * bytes;
    const row = dtype === 'float16' ? new Uint16Array(heads * headDim).fill(0x3800 /* 0.5 */) : new Float32Array(heads * headDim).fill(0.5);
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
    console.log(`  ${dtype} KV slabs reserved ${(reserved / GiB).toFixed(1)} GiB; RSS +${((short - empty) / MiB).toFixed(0)} MiB for ${slots} sequences of 18 positions, +${((longer - empty) / MiB).toFixed(0)} MiB at ${long} positions`);
    const conversationBytes = perPosition * CONVERSATION;
    const kv = `${dtype} KV cache${dtype === quantization.kvCache ? ' (the default here)' : ''}`;
    figures.push(figure('memory', `${kv} reserved (virtual) for ${slots} slots of ${CONVERSATION} positions`, reserved / GiB, 'GiB'));
    figures.push(figure('memory', `${kv} resident for ${slots} sequences of 18 positions`, (short - empty) / MiB, 'MiB'));
    figures.push(figure('memory', `${kv} resident for ${slots} sequences of ${long} positions`, (longer - empty) / MiB, 'MiB'));
    figures.push(figure('memory', `${kv} resident per position, all layers (keys and values: ${(cache.bytesPerPosition / 1024).toFixed(0)} KiB)`, perPosition / 1024, 'KiB'));
    figures.push(figure('memory', `${CONVERSATION}-token conversations that fit beside the weights in 16 GiB, ${kv}`, Math.floor((BUDGET_BYTES - fullWeightsRss) / conversationBytes), 'conversations', undefined, note));
    // Hand the slabs back before measuring the next dtype (RSS must start from the same place).
    for (let s = 0; s < slots; s++) cache.release(`s${s}`);
    cache.keys.clear();
    cache.values.clear();
  }
  printFigures(figures);
  if (json) writeFigures(json, figures);
  return figures;
}
