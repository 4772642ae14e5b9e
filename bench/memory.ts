// `pnpm bench memory`: what a stage's memory is made of at the full ChatGLM-6B width: its weights
// (int4 everywhere by default) and its KV cache (fp16 by default with int4, measured beside fp32),
// which is paged: reserved (virtual) for every slot at full length, committed in memory page by page
// as sequences take pages, and a freed page is the next one handed out (docs/performance.md, "KV
// cache"). The cache is measured on its own (the stage's KvCache, written as a stage writes it), so
// that ONNX Runtime's buffers do not blur the figure. From the figures it reports how many 2,048-token
// conversations fit beside the weights in 16 GiB, and what stays committed when one long
// conversation at a time moves across the slots.
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

/** Writes a sequence's positions one by one up to `to`, in every layer, as decode steps write them. */
function growTo(cache: KvCache, slot: number, to: number): void {
  const { heads, headDim, layers } = cache.shape;
  const row = cache.dtype === 'float16' ? new Uint16Array(heads * headDim).fill(0x3800 /* 0.5 */) : new Float32Array(heads * headDim).fill(0.5);
  for (let t = cache.length(slot); t < to; t++) {
    cache.reserve(slot, 1);
    for (const l of layers) cache.append(l, slot, row, row, { row: 0, rows: 1, tokens: 1 });
    cache.advance(slot, 1);
  }
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
    const fill = (to: number) => {
      for (let s = 0; s < slots; s++) {
        if (cache.activeSequences < slots) cache.allocate(`s${s}`);
        growTo(cache, s, to);
      }
    };
    const empty = settledRss();
    fill(18);
    const short = settledRss();
    fill(long);
    const longer = settledRss();
    const perPosition = (longer - short) / (slots * (long - 18)); // bytes, all layers
    console.log(`  ${dtype} KV pools reserved ${(reserved / GiB).toFixed(1)} GiB; RSS +${((short - empty) / MiB).toFixed(0)} MiB for ${slots} sequences of 18 positions, +${((longer - empty) / MiB).toFixed(0)} MiB at ${long} positions`);
    const conversationBytes = perPosition * CONVERSATION;
    const kv = `${dtype} KV cache${dtype === quantization.kvCache ? ' (the default here)' : ''}`;
    figures.push(figure('memory', `${kv} reserved (virtual) for ${slots} slots of ${CONVERSATION} positions`, reserved / GiB, 'GiB'));
    figures.push(figure('memory', `${kv} resident for ${slots} sequences of 18 positions`, (short - empty) / MiB, 'MiB'));
    figures.push(figure('memory', `${kv} resident for ${slots} sequences of ${long} positions`, (longer - empty) / MiB, 'MiB'));
    figures.push(figure('memory', `${kv} resident per position, all layers (keys and values: ${(cache.bytesPerPosition / 1024).toFixed(0)} KiB)`, perPosition / 1024, 'KiB'));
    figures.push(figure('memory', `${CONVERSATION}-token conversations that fit beside the weights in 16 GiB, ${kv}`, Math.floor((BUDGET_BYTES - fullWeightsRss) / conversationBytes), 'conversations', undefined, note));
    for (let s = 0; s < slots; s++) cache.release(`s${s}`);
    // Hand the pools back before measuring the next dtype (RSS must start from the same place).
    cache.keys.clear();
    cache.values.clear();
  }
  // 3. Churn, on a fresh pool in the default dtype: `slots` rounds in which every slot holds a
  // sequence, one of them `long` positions long (a different slot each round) and the others 18,
  // all ended at the round's end. The pool hands freed pages out again, so what stays committed is
  // one round's positions; a slab per slot (the cache before it was paged) would keep each slot's
  // longest sequence: every slot at `long`.
  {
    const dtype = quantization.kvCache;
    const cache = new KvCache({ layers: Array.from({ length: L }, (_, i) => i), heads, headDim, slots, capacity: CONVERSATION, dtype });
    const before = settledRss();
    for (let round = 0; round < slots; round++) {
      const held = Array.from({ length: slots }, (_, s) => cache.allocate(`r${round}-${s}`));
      held.forEach((slot, s) => growTo(cache, slot, s === round ? long : 18));
      for (let s = 0; s < slots; s++) cache.release(`r${round}-${s}`);
    }
    const committed = settledRss() - before;
    const oneRound = (long + (slots - 1) * 18) * cache.bytesPerPosition;
    const slabs = slots * long * cache.bytesPerPosition;
    console.log(`  ${dtype} KV pool after ${slots} rounds of one ${long}-position sequence moving across ${slots} slots beside sequences of 18: RSS +${(committed / MiB).toFixed(0)} MiB (one round's positions: ${(oneRound / MiB).toFixed(0)} MiB; slabs per slot would keep ${(slabs / MiB).toFixed(0)} MiB)`);
    figures.push(figure('memory', `${dtype} KV cache resident after ${slots} rounds of one ${long}-position sequence moving across ${slots} slots (pages reused)`, committed / MiB, 'MiB'));
    figures.push(figure('memory', `the same rounds' positions held at once (the least a cache can commit)`, oneRound / MiB, 'MiB'));
    figures.push(figure('memory', `what slabs per slot would keep for the same rounds (computed: every slot at ${long} positions)`, slabs / MiB, 'MiB'));
    cache.keys.clear();
    cache.values.clear();
  }
  printFigures(figures);
  if (json) writeFigures(json, figures);
  return figures;
}
