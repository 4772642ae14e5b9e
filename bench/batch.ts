// `pnpm bench batch`: how decode throughput grows with the streams batched into one step, at the
// full ChatGLM-6B shape on this machine's CPU (int4 everywhere, as `--quantize int4` gives), and
// where a step's time goes at 1 and at 16 streams (ONNX Runtime's own profile, per operator type;
// what is left of the step's time is spent outside the kernels: KV cache copies in and out,
// building the inputs, the runtime's bookkeeping).
//
// `--quick` decodes a model of 3 layers at full width instead of 28 (its figures say so): the
// lm_head then weighs more in each step than in the full model. `--past N` prefills prompts of N
// tokens before decoding (default 18, a short chat turn), to see what attention and the KV cache
// cost at long contexts (each stream's prompt is prefilled first: keep the stream counts small).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readProfile } from '@chatglm/runtime';
import { parseBenchOptions } from './support/bench-options.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { PROMPT_TOKENS, decodeStepTimes, median } from './support/decode-timing.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { kernelTimesPerRun } from './support/op-profile.ts';
import { openRandomModel } from './support/random-model.ts';

/** Aggregate tokens/s at 16 streams must reach this many times one stream's (docs/performance.md, "Targets"). */
const BATCH_16_FACTOR = 6;
const QUICK_LAYERS = 3;

export async function runBatchBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { quick, quantization, threads, json, own } = parseBenchOptions(argv, { streams: '1,2,4,8,16,32', steps: '8', past: String(PROMPT_TOKENS) });
  const counts = own.streams.split(',').map(Number);
  if (!counts.every((n) => Number.isInteger(n) && n >= 1)) throw new Error(`--streams must list positive integers, got "${own.streams}"`);
  const steps = Number(own.steps);
  const past = Number(own.past);
  if (!(Number.isInteger(past) && past >= 3)) throw new Error(`--past must be an integer of at least 3 (the prompt ends with [gMASK] <sop>), got "${own.past}"`);
  const layers = quick ? QUICK_LAYERS : CHATGLM_6B.numLayers;
  const note = [quick ? `${QUICK_LAYERS} layers at full width` : '', past !== PROMPT_TOKENS ? `after prompts of ${past} tokens` : ''].filter(Boolean).join(', ') || undefined;
  const figures: BenchFigure[] = [];
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-bench-batch-'));

  console.log(`batch benchmark: ChatGLM-6B width, ${layers} layers, linears ${quantization.linears}, lm_head ${quantization.embedding}, ${threads} threads; streams ${counts.join(', ')}; prompts of ${past} tokens`);
  const model = await openRandomModel(layers, quantization, { streams: Math.max(...counts), steps, threads, profileFilePrefix: path.join(dir, 'batch'), promptTokens: past });
  console.log(`  built in ${model.builtIn.toFixed(1)} s`);
  /** Median ms per step (the throughput figures) and mean (set beside the profile's mean run). */
  const stepMs = new Map<number, number>();
  const meanStepMs = new Map<number, number>();
  /** Where each stream count's decode runs sit in the session's run order (prefills come first). */
  const runIndex = new Map<number, number>();
  let runs = 0;
  try {
    for (const n of counts) {
      runs += n; // one prefill per stream
      runIndex.set(n, runs);
      const times = await decodeStepTimes(model.config, [model.stage], n, steps, past);
      runs += steps;
      const ms = median(times);
      stepMs.set(n, ms);
      meanStepMs.set(n, times.reduce((a, b) => a + b, 0) / times.length);
      console.log(`  ${n} streams: ${ms.toFixed(1)} ms/step, ${((n * 1000) / ms).toFixed(1)} tokens/s`);
    }
    const events = readProfile(model.stage.endProfiling());
    // Broken down by operator: one stream (or the fewest asked) and 16 (or the most asked).
    const profiled = new Set([counts[0], counts.includes(16) ? 16 : Math.max(...counts)]);
    for (const n of counts.filter((c) => profiled.has(c))) {
      const { byOp, runMs } = kernelTimesPerRun(events, runIndex.get(n)!, steps);
      const kernels = [...byOp.values()].reduce((a, b) => a + b, 0);
      const step = meanStepMs.get(n)!;
      const top = [...byOp].slice(0, 6).map(([op, ms]) => `${op} ${ms.toFixed(1)}`);
      console.log(`  where a step of ${n} stream(s) goes (mean ${step.toFixed(1)} ms): kernels ${kernels.toFixed(1)} ms (${top.join(', ')}); ONNX Runtime outside its kernels ${(runMs - kernels).toFixed(1)} ms; outside ONNX Runtime ${(step - runMs).toFixed(1)} ms`);
      for (const [op, ms] of [...byOp].slice(0, 6)) figures.push(figure('batch', `${n} streams: ${op} kernels, ms/step`, ms, 'ms', undefined, note));
      figures.push(figure('batch', `${n} streams: outside ONNX Runtime, ms/step`, step - runMs, 'ms', undefined, note));
    }
  } finally {
    await model.stage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const single = 1000 / stepMs.get(counts[0]!)!;
  for (const n of counts) {
    const tokensPerSecond = (n * 1000) / stepMs.get(n)!;
    const target = n === 16 && counts[0] === 1 ? { value: BATCH_16_FACTOR * single, atMost: false, what: `${BATCH_16_FACTOR}x one stream` } : undefined;
    figures.push(figure('batch', `${n} streams: tokens/s in all`, tokensPerSecond, 'tokens/s', target, note));
  }
  printFigures(figures);
  console.log(`\nbatch benchmark done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (json) writeFigures(json, figures);
  return figures;
}
