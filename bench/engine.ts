// Decode speed of the CPU stage runtime at ChatGLM-6B width, beside the bandwidth roofline.
//
// A 2-layer stage (hidden 4096, 32 heads, FFN 16384, random fp32 weights: 1.61 GB) decodes batches
// of 1 and 8 sequences; the same run measures how fast ONNX Runtime streams memory, and prints the
// time to read the stage's weights once at that rate (the floor for a weight-bound decode step).
import os from 'node:os';
import { parseArgs } from 'node:util';
import { glmPositions, promptLayout, randomGlmWeights, type GlmConfig } from '@chatglm/glm';
import { CpuStageRuntime, measureReadBandwidth } from '@chatglm/runtime';

const CONFIG: GlmConfig = {
  vocabSize: 130528,
  hiddenSize: 4096,
  numLayers: 4, // the stage holds layers [1, 3): two middle layers, no embedding or lm_head
  numHeads: 32,
  innerHiddenSize: 16384,
  layernormEpsilon: 1e-5,
  maxSequenceLength: 2048,
  bosTokenId: 130004,
  eosTokenId: 130005,
  maskTokenId: 130000,
  gmaskTokenId: 130001,
  padTokenId: 3,
  preSeqLen: 0,
  prefixProjection: false,
  quantizationBit: 0,
};
const RANGE = { start: 1, end: 3 };

export async function runEngineBenchmark(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      prompt: { type: 'string', default: '32' },
      steps: { type: 'string', default: '12' },
      capacity: { type: 'string', default: '512' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
    },
  });
  const promptLen = Number(values.prompt);
  const steps = Number(values.steps);
  const capacity = Number(values.capacity);
  const threads = Number(values.threads);
  const H = CONFIG.hiddenSize;

  console.log(`engine benchmark: hidden ${H}, ${CONFIG.numHeads} heads, FFN ${CONFIG.innerHiddenSize}, 2 layers of random fp32 weights; ${threads} threads; KV capacity ${capacity}, prompts of ${promptLen} tokens`);
  let t0 = performance.now();
  const weights = randomGlmWeights(CONFIG, { seed: 1, layers: RANGE, embedding: false });
  let weightBytes = 0;
  for (const t of weights.values()) weightBytes += t.data.byteLength;
  console.log(`generated ${(weightBytes / 1e9).toFixed(2)} GB of weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  t0 = performance.now();
  const stage = await CpuStageRuntime.create({
    config: CONFIG,
    range: RANGE,
    weights: { kind: 'memory', tensors: Object.fromEntries(weights) },
    maxSequences: 8,
    maxTokensPerSequence: capacity,
    threads,
  });
  weights.clear();
  console.log(`stage loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const bandwidth = await measureReadBandwidth({ threads });
  const rooflineMs = (weightBytes / bandwidth) * 1000;

  const rows: string[] = [];
  try {
    for (const batch of [1, 8]) {
      const ids = Array.from({ length: batch }, (_, i) => `b${batch}-${i}`);
      const prompt = [...Array.from({ length: promptLen - 2 }, (_, i) => i + 10), CONFIG.gmaskTokenId, CONFIG.bosTokenId];
      const layout = promptLayout(prompt, CONFIG);
      const pre = glmPositions(layout, 0, promptLen);
      for (const seqId of ids) {
        await stage.prefill({ seqId, hidden: randomHidden(promptLen * H, 3), positions: pre.positions, blockPositions: pre.blockPositions, contextLength: layout.contextLength });
      }
      const times: number[] = [];
      for (let k = 0; k < steps; k++) {
        const pos = glmPositions(layout, promptLen + k, 1);
        const entries = ids.map((seqId, i) => ({ seqId, hidden: randomHidden(H, 100 * k + i), position: pos.positions[0]!, blockPosition: pos.blockPositions[0]! }));
        const s = performance.now();
        await stage.decode(entries);
        times.push(performance.now() - s);
      }
      for (const seqId of ids) await stage.release(seqId);
      times.sort((a, b) => a - b);
      const median = times[times.length >> 1]!;
      rows.push(
        `batch ${batch}: ${median.toFixed(1)} ms per decode step (median of ${steps}), ${(median / batch).toFixed(1)} ms/token; ` +
          `${(median / rooflineMs).toFixed(2)}x the weight-read time, ${((weightBytes / (median / 1000)) / 1e9).toFixed(1)} GB/s of weights`,
      );
    }
  } finally {
    await stage.close();
  }
  console.log(`measured read bandwidth (ONNX Runtime ReduceSum, ${threads} threads): ${(bandwidth / 1e9).toFixed(1)} GB/s`);
  console.log(`reading the ${(weightBytes / 1e9).toFixed(2)} GB of weights once at that rate: ${rooflineMs.toFixed(1)} ms`);
  for (const r of rows) console.log(r);
}

function randomHidden(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}
