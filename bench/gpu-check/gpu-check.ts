// The device check (`scripts/gpu-check`): what a GPU gives the stage runtime, measured in one run
// that fits a lent device's budget. It prints the adapter, checks golden parity on the GPU (and the
// GPU against the CPU at ChatGLM's head size, where ONNX Runtime picks other kernels), measures
// the device (memory bandwidth, the cost of a kernel dispatch, a decode step's KV cache write in
// place against a copy of the pool), then decodes with the full ChatGLM-6B shape (random weights made directly as
// codes) at 1 and 16 streams beside the weight-streaming roofline, and as a 2-stage pipeline on
// the one GPU. `--shape small` runs everything at a tiny shape, which SwiftShader (a CPU Vulkan
// driver) manages in a test, so the check works the first time a GPU is available.
//
// Stages run in this thread (StageExecutor), not in worker threads, so the check bundles into one
// file that runs with a bare Node binary on a machine without the repository's dependencies.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SequencePositions, parseQuantization, randomGlmWeights, type GlmConfig, type KvCacheDtype, type Quantization } from '@chatglm/glm';
import { StageExecutor, cacheUpdateMs, deviceBandwidth, dispatchMicros, releaseProbes, vulkanEnvironment, webgpuSettings } from '@chatglm/runtime';
import { maxAbsDiff, readGolden } from '../../test/support/golden.ts';
import { CHATGLM_6B } from '../support/chatglm-6b-shape.ts';
import { cachedPositionsFor, decodeStepMs } from '../support/decode-timing.ts';
import { profileDecode } from './decode-profile.ts';
import { stageWeightBytes } from '../support/weight-bytes.ts';
import { randomStageTensors } from '../support/random-stage-tensors.ts';

const FULL = CHATGLM_6B;
const SMALL: GlmConfig = { ...FULL, vocabSize: 4096, hiddenSize: 256, numLayers: 4, numHeads: 4, innerHiddenSize: 1024, bosTokenId: 4094, eosTokenId: 4095, maskTokenId: 4092, gmaskTokenId: 4093 };

/** One measured figure, as the JSON report lists them. */
export interface Figure {
  part: string;
  name: string;
  measured: number;
  unit: string;
  /** What it is compared with, when there is a reference. */
  reference?: { name: string; value: number };
}

/** Decode steps timed (median taken) and streams batched: fewer at the small shape, which SwiftShader runs slowly. */
const RUN = { full: { steps: 32, streams: 16 }, small: { steps: 3, streams: 4 } };

export async function runGpuCheck(argv: string[]): Promise<Figure[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      shape: { type: 'string', default: 'full' },
      // Weights int4, int8 or none (fp32), each optionally with MatMulNBits' accuracy level: int4-acc0.
      variants: { type: 'string', default: 'int4' },
      out: { type: 'string' },
      fixtures: { type: 'string' },
      // ONNX Runtime's profile of single-stream decode steps, summed per operator (and kept beside --out).
      profile: { type: 'boolean', default: false },
    },
  });
  if (values.shape !== 'full' && values.shape !== 'small') throw new Error(`--shape must be full or small, got "${values.shape}"`);
  const small = values.shape === 'small';
  const config = small ? SMALL : FULL;
  const run = RUN[values.shape];
  const variants = values.variants.split(',').map(parseVariant);
  const figures: Figure[] = [];
  const say = (line: string) => console.log(line);
  // A wrong result is reported at the end, after the figures: a lent device's one run should give
  // everything it can, and still end in failure.
  const failures: string[] = [];
  const started = performance.now();

  // 1. The adapter.
  const vulkan = vulkanEnvironment();
  const gpus = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { encoding: 'utf8' });
  say(`adapter: ${gpus.status === 0 ? gpus.stdout.trim() : 'nvidia-smi not available'}; Vulkan loader ${vulkan.loader ?? 'missing'}, drivers ${vulkan.drivers.join(', ') || `none (${vulkan.driverSource})`}`);
  const settings = webgpuSettings();
  say(`WebGPU provider: a submission every ${settings.maxPendingDispatches} dispatches, validation ${settings.validation ?? "ONNX Runtime's default"}`);

  // 2. Golden parity on the GPU, with the KV cache in fp32 and, where the adapter computes in fp16, in fp16.
  const g = readGolden('glm_model.data', values.fixtures);
  for (const kvCache of ['float32', 'float16'] as const) {
    let golden: StageExecutor;
    try {
      golden = await StageExecutor.create({ config: g.config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors: g.tensors }, quantization: { kvCache }, maxSequences: 1, maxTokensPerSequence: 8, threads: 1, device: 'webgpu' });
    } catch (err) {
      if (kvCache === 'float16' && (err as { code?: string }).code === 'device_unavailable') {
        say('golden parity with an fp16 KV cache: this adapter cannot compute in fp16');
        continue;
      }
      throw err;
    }
    try {
      const o1 = await golden.prefill({ seqId: 'a', tokens: g.x1, positions: [0, 1, 1], blockPositions: [0, 0, 1], contextLength: 2 }, { fetchHidden: true });
      const o2 = await golden.decode([{ seqId: 'a', token: g.x2[0]!, position: 1, blockPosition: 2 }], { fetchHidden: true });
      const o3 = await golden.decode([{ seqId: 'a', token: g.x3[0]!, position: 1, blockPosition: 3 }], { fetchHidden: true });
      const error = Math.max(maxAbsDiff(o1.hidden!, g.y1), maxAbsDiff(o2.hidden!, g.y2), maxAbsDiff(o3.hidden!, g.y3));
      const cache = kvCache === 'float32' ? '' : ', KV cache fp16';
      figures.push({ part: 'golden', name: `max |error| vs the PyTorch reference${cache}`, measured: error, unit: 'abs', reference: { name: 'bound', value: 5e-4 } });
      say(`golden parity on the GPU${cache}: max |error| ${error.toExponential(2)} (bound 5e-4)`);
      if (!(error < 5e-4)) failures.push(`golden parity failed on the GPU${cache}: ${error}`);
    } finally {
      await golden.close();
    }
  }

  // 2b. The GPU against the CPU at ChatGLM's head size, where the golden model's (4) does not reach
  // the attention and rotary kernels a real model runs: prompts across several cache pages, then
  // batched decode steps of sequences of different lengths.
  for (const fusedDecodeAttention of [true, false]) {
    const parity = await cpuParity(fusedDecodeAttention);
    const how = fusedDecodeAttention ? 'decode attention as MultiHeadAttention' : 'decode attention as products';
    figures.push({ part: 'golden', name: `max |logit error| vs the CPU stage at head size 128, relative to the largest logit (${how})`, measured: parity, unit: 'ratio', reference: { name: 'bound', value: 1e-4 } });
    say(`the GPU against the CPU at head size 128 (prefills of 37 and 5 tokens, 3 batched decode steps; ${how}): max |logit diff| / max |logit| ${parity.toExponential(2)} (bound 1e-4)`);
    if (!(parity < 1e-4)) failures.push(`the GPU's logits differ from the CPU's at head size 128 (${how}): ${parity}`);
  }

  // 3. The device.
  const bandwidth = await deviceBandwidth(small ? 16 * 2 ** 20 : 2 ** 30);
  figures.push({ part: 'device', name: 'memory bandwidth (read + write of y = x + 1)', measured: bandwidth / 1e9, unit: 'GB/s' });
  const dispatch = await dispatchMicros(small ? 100 : 500);
  figures.push({ part: 'device', name: 'one kernel dispatch', measured: dispatch, unit: 'µs' });
  say(`device: ${(bandwidth / 1e9).toFixed(1)} GB/s read + write; ${dispatch.toFixed(1)} µs per kernel dispatch`);
  const cacheShape = small ? { slots: 2, heads: 4, headDim: 32, length: 64, layers: config.numLayers } : { slots: run.streams, heads: 32, headDim: 128, length: 1024, layers: 28 };
  // The stages keep their KV cache in fp16 where the adapter computes in fp16 (SwiftShader does not).
  let kvCache: KvCacheDtype = 'float32';
  for (const dtype of ['float32', 'float16'] as const) {
    const cost = await cacheUpdateMs(cacheShape, dtype);
    if (!cost) {
      say(`KV cache write in ${dtype}: not supported by this device`);
      continue;
    }
    if (dtype === 'float16') kvCache = 'float16';
    const label = `${cacheShape.slots} sequences of ${cacheShape.length} positions, ${cacheShape.layers} layers, ${dtype}`;
    figures.push({ part: 'kv-cache', name: `new rows written in place, per step (${label})`, measured: cost.inPlace, unit: 'ms' });
    figures.push({ part: 'kv-cache', name: `the pool copied with its new rows, per step (${label})`, measured: cost.copied, unit: 'ms' });
    say(`KV cache write per decode step (${label}): in place ${cost.inPlace.toFixed(2)} ms, as a copy of the pool ${cost.copied.toFixed(2)} ms`);
  }
  await releaseProbes();

  // 4. Decoding with the whole model in one stage, then as two stages on the one GPU.
  for (const variant of variants) {
    const { name: q, weights } = variant;
    const quantization = { linears: weights, embedding: weights };
    const bytes = stageWeightBytes(config, config.numLayers, quantization, true);
    // The device moves `bandwidth` bytes a second, reads and writes together; a decode step that
    // only reads its weights moves them at that rate at best (HBM serves reads and writes alike).
    const rooflineMs = (bytes / bandwidth) * 1000;
    say(`\n${describe(config)}, weights ${q}, KV cache ${kvCache} on the device (${(bytes / 1e9).toFixed(2)} GB of weights read per step; roofline ${rooflineMs.toFixed(2)} ms)`);
    const whole = await loadStage(config, { start: 0, end: config.numLayers }, variant, kvCache, run);
    try {
      const single = await decodeStepMs(config, [whole], 1, run.steps);
      const batched = await decodeStepMs(config, [whole], run.streams, run.steps);
      figures.push({ part: `decode-${q}`, name: '1 stream: ms/token', measured: single, unit: 'ms', reference: { name: 'weight-streaming roofline', value: rooflineMs } });
      figures.push({ part: `decode-${q}`, name: `${run.streams} streams: tokens/s in all`, measured: (run.streams * 1000) / batched, unit: 'tokens/s', reference: { name: '1 stream tokens/s', value: 1000 / single } });
      say(`  1 stream: ${single.toFixed(2)} ms/token (${(rooflineMs / single * 100).toFixed(0)}% of the roofline); ${run.streams} streams: ${batched.toFixed(2)} ms/step = ${((run.streams * 1000) / batched).toFixed(0)} tokens/s (${((single * run.streams) / batched).toFixed(1)}x one stream)`);
    } finally {
      await whole.close();
    }
    if (values.profile) {
      for (const streams of [1, run.streams]) {
        const keepAs = values.out ? path.join(path.dirname(path.resolve(values.out)), `decode-profile-${q}-${streams}.json`) : undefined;
        const p = await profileDecode(config, (prefix) => loadStage(config, { start: 0, end: config.numLayers }, variant, kvCache, run, prefix), streams, small ? 2 : 8, keepAs);
        say(`  profile of a ${streams}-stream step: ${p.stepMs.toFixed(2)} ms (profiled), ${p.nodesPerStep.toFixed(0)} kernels, host-side ${p.nodeMs.toFixed(2)} ms, on the GPU ${p.gpuMs.toFixed(2)} ms`);
        say(`    host-side by operator: ${p.byOperator.slice(0, 8).map((o) => `${o.op} ${o.ms.toFixed(2)} ms/${o.count.toFixed(0)}`).join(', ')}`);
        say(`    GPU by program: ${p.byProgram.slice(0, 8).map((o) => `${o.program} ${o.ms.toFixed(2)} ms/${o.count.toFixed(0)}`).join(', ')}`);
        const part = `profile-${q}-${streams}`;
        figures.push({ part, name: 'profiled step', measured: p.stepMs, unit: 'ms' }, { part, name: 'kernels per step', measured: p.nodesPerStep, unit: 'count' });
        figures.push({ part, name: 'host-side node time per step', measured: p.nodeMs, unit: 'ms' }, { part, name: 'GPU time per step', measured: p.gpuMs, unit: 'ms' });
        for (const o of p.byOperator.slice(0, 12)) figures.push({ part, name: `host-side: ${o.op} on ${o.provider}, ${o.count.toFixed(0)} kernels`, measured: o.ms, unit: 'ms' });
        for (const o of p.byProgram.slice(0, 12)) figures.push({ part, name: `GPU: ${o.program}, ${o.count.toFixed(0)} kernels`, measured: o.ms, unit: 'ms' });
      }
    }
    const half = Math.ceil(config.numLayers / 2);
    const stages = [await loadStage(config, { start: 0, end: half }, variant, kvCache, run), await loadStage(config, { start: half, end: config.numLayers }, variant, kvCache, run)];
    try {
      const piped = await decodeStepMs(config, stages, 1, run.steps);
      figures.push({ part: `decode-${q}`, name: '2 stages on one GPU, 1 stream: ms/token', measured: piped, unit: 'ms' });
      say(`  2 stages on the one GPU, 1 stream: ${piped.toFixed(2)} ms/token`);
    } finally {
      for (const s of stages) await s.close();
    }
  }
  say(`\ndevice check done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (values.out) fs.mkdirSync(path.dirname(path.resolve(values.out)), { recursive: true });
  if (values.out) fs.writeFileSync(values.out, `${JSON.stringify({ shape: values.shape, settings, figures, failures }, null, 2)}\n`);
  if (failures.length > 0) throw new Error(`the device check found wrong results:\n${failures.join('\n')}`);
  return figures;
}

/**
 * The largest difference between the logits of a webgpu and a CPU stage, relative to the largest
 * logit, over the same runs: two prefills that cross page boundaries, then decode steps of both.
 */
async function cpuParity(fusedDecodeAttention: boolean): Promise<number> {
  const config: GlmConfig = { ...SMALL, hiddenSize: 512, numHeads: 4, numLayers: 2 };
  const tensors = Object.fromEntries(randomGlmWeights(config, { seed: 11 }));
  const prompts = [Array.from({ length: 35 }, (_, i) => 5 + i), [7, 8, 9]].map((p) => [...p, config.gmaskTokenId, config.bosTokenId]);
  const positions = prompts.map((p) => SequencePositions.of(p, config));
  const logitsOn = async (device: 'cpu' | 'webgpu'): Promise<Float32Array[]> => {
    const stage = await StageExecutor.create({ config, range: { start: 0, end: config.numLayers }, weights: { kind: 'memory', tensors }, maxSequences: 2, maxTokensPerSequence: 48, threads: 2, device, fusedDecodeAttention });
    try {
      const out: Float32Array[] = [];
      for (const [i, p] of prompts.entries()) out.push((await stage.prefill({ seqId: `s${i}`, tokens: p, ...positions[i]!.prefill(p.length), contextLength: positions[i]!.contextLength })).logits!);
      for (let k = 0; k < 3; k++) out.push((await stage.decode(prompts.map((p, i) => ({ seqId: `s${i}`, token: 20 + k, ...positions[i]!.at(p.length + k) })))).logits!);
      return out;
    } finally {
      await stage.close();
    }
  };
  const cpu = await logitsOn('cpu');
  const gpu = await logitsOn('webgpu');
  let worst = 0;
  let largest = 0;
  cpu.forEach((c, r) => c.forEach((v, j) => {
    worst = Math.max(worst, Math.abs(v - gpu[r]![j]!));
    largest = Math.max(largest, Math.abs(v));
  }));
  return worst / largest;
}

function describe(c: GlmConfig): string {
  return `${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads, FFN ${c.innerHiddenSize}, vocabulary ${c.vocabSize}`;
}

/** What one decode measurement runs: the weights' quantization and, for quantized weights, MatMulNBits' accuracy level. */
interface Variant {
  /** As given: int4, int8, none, or one of those with -acc0..-acc4 and/or -products. */
  name: string;
  weights: Quantization;
  accuracyLevel?: number;
  /** -products: decode steps attend with separate products, not MultiHeadAttention. */
  products?: boolean;
}

function parseVariant(text: string): Variant {
  const m = /^(none|int8|int4)(?:-acc([0-4]))?(-products)?$/.exec(text);
  if (!m) throw new Error(`--variants takes int4, int8 or none, each optionally with -acc0..-acc4 (MatMulNBits' accuracy level) and then -products (decode attention as products, not MultiHeadAttention), got "${text}"`);
  return { name: text, weights: parseQuantization(m[1]!, 'variants'), ...(m[2] !== undefined && { accuracyLevel: Number(m[2]) }), ...(m[3] !== undefined && { products: true }) };
}

function loadStage(config: GlmConfig, range: { start: number; end: number }, variant: Variant, kvCache: KvCacheDtype, run: { steps: number; streams: number }, profileFilePrefix?: string): Promise<StageExecutor> {
  const t0 = performance.now();
  // KV capacity for the prompt and the decoded tokens, kept on the device.
  return StageExecutor.create({
    config,
    range,
    weights: { kind: 'tensors', tensors: randomStageTensors({ linears: variant.weights, embedding: variant.weights }) },
    ...(variant.accuracyLevel !== undefined && { accuracyLevel: variant.accuracyLevel }),
    ...(variant.products && { fusedDecodeAttention: false }),
    quantization: { kvCache },
    ...(profileFilePrefix !== undefined && { profileFilePrefix }),
    maxSequences: run.streams,
    maxTokensPerSequence: cachedPositionsFor(run.steps),
    threads: 2,
    device: 'webgpu',
  }).then((stage) => {
    console.log(`  loaded layers ${range.start}-${range.end - 1} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return stage;
  });
}

// import.meta.url, not import.meta.filename: in the payload this module is gpu-check.mjs itself.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runGpuCheck(process.argv.slice(2));
}
