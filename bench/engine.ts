// Decode speed of the CPU stage runtime at ChatGLM-6B width, beside the bandwidth roofline.
//
// A 2-layer stage (hidden 4096, 32 heads, FFN 16384, random weights: 1.61 GB as fp32) decodes
// batches of 1 and 8 sequences with its linears as fp32, int8 and int4 (MatMulNBits); the same run
// measures how fast ONNX Runtime streams memory, and prints the time to read each variant's weights
// once at that rate (the floor for a weight-bound decode step).
import os from 'node:os';
import { parseArgs } from 'node:util';
import { glmPositions, promptLayout, randomGlmWeights, type GlmConfig } from '@chatglm/glm';
import { ThreadedStageRuntime, measureReadBandwidth } from '@chatglm/runtime';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { benchPrompt } from './support/decode-timing.ts';
import { stageWeightBytes } from './support/weight-bytes.ts';

// The stage holds layers [1, 3) of a 4-layer model: two middle layers, no embedding or lm_head.
const CONFIG: GlmConfig = { ...CHATGLM_6B, numLayers: 4 };
const RANGE = { start: 1, end: 3 };

export async function runEngineBenchmark(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      prompt: { type: 'string', default: '32' },
      steps: { type: 'string', default: '12' },
      capacity: { type: 'string', default: '512' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
      variants: { type: 'string', default: 'fp32,int8,int4' },
    },
  });
  const promptLen = Number(values.prompt);
  const steps = Number(values.steps);
  const capacity = Number(values.capacity);
  const threads = Number(values.threads);
  const variants = values.variants.split(',') as Variant[];
  const H = CONFIG.hiddenSize;

  console.log(`engine benchmark: hidden ${H}, ${CONFIG.numHeads} heads, FFN ${CONFIG.innerHiddenSize}, 2 layers of random weights as ${variants.join(', ')}; ${threads} threads; KV capacity ${capacity}, prompts of ${promptLen} tokens`);
  const t0 = performance.now();
  const weights = Object.fromEntries(randomGlmWeights(CONFIG, { seed: 1, layers: RANGE, embedding: false }));
  console.log(`generated the fp32 weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const bandwidth = await measureReadBandwidth({ threads });
  console.log(`measured read bandwidth (ONNX Runtime ReduceSum, ${threads} threads): ${(bandwidth / 1e9).toFixed(1)} GB/s`);

  const rows: string[] = [];
  for (const variant of variants) {
    const bytes = stageWeightBytes(CONFIG, RANGE.end - RANGE.start, { linears: variant === 'fp32' ? 'none' : variant, embedding: 'none' }, false);
    const rooflineMs = (bytes / bandwidth) * 1000;
    const loaded = performance.now();
    const stage = await ThreadedStageRuntime.create({
      config: CONFIG,
      range: RANGE,
      weights: { kind: 'memory', tensors: weights },
      ...(variant !== 'fp32' && { quantization: { linears: variant } }),
      maxSequences: 8,
      maxTokensPerSequence: capacity,
      threads,
    });
    rows.push(`${variant}: ${(bytes / 1e9).toFixed(2)} GB of weights, read once in ${rooflineMs.toFixed(1)} ms at the measured bandwidth (stage built in ${((performance.now() - loaded) / 1000).toFixed(1)} s)`);
    try {
      for (const batch of [1, 8]) {
        const median = await decodeStepMs(stage, batch, promptLen, steps);
        rows.push(
          `  batch ${batch}: ${median.toFixed(1)} ms per decode step (median of ${steps}), ${(median / batch).toFixed(1)} ms/token; ` +
            `${(median / rooflineMs).toFixed(2)}x the weight-read time, ${(bytes / (median / 1000) / 1e9).toFixed(1)} GB/s of weights`,
        );
      }
    } finally {
      await stage.close();
    }
    console.log(rows.slice(-3).join('\n'));
  }
  console.log(`\nsummary (read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s):`);
  for (const r of rows) console.log(r);
}

type Variant = 'fp32' | 'int8' | 'int4';

async function decodeStepMs(stage: ThreadedStageRuntime, batch: number, promptLen: number, steps: number): Promise<number> {
  const H = CONFIG.hiddenSize;
  const ids = Array.from({ length: batch }, (_, i) => `b${batch}-${i}`);
  const prompt = benchPrompt(CONFIG, promptLen);
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
  return times[times.length >> 1]!;
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
