// `pnpm bench prefill`: how fast a prompt goes through the model at the full ChatGLM-6B width, beside
// the matrix-product throughput ONNX Runtime reaches on this machine with the layers' own kernel
// (MatMulNBits at the prompt's row count), measured in the same run. Also what a long prompt costs
// a stream already decoding: with the stage in one graph it waits for the whole prefill between two
// of its tokens; converted in chunks of layers (`--chunk-layers`, default the workers') for one chunk, which the
// run shows side by side, with what the chunks cost each decode step.
//
// `--quick` uses a model of 3 layers at full width; the throughput ratio does not depend on the
// layer count, and the figures in seconds for 28 layers are extrapolated and say so.
import { DEFAULT_PREFILL_CHUNK_LAYERS, SequencePositions, type GlmConfig } from '@chatglm/glm';
import { ThreadedStageRuntime, measureGemmThroughput, type StageRuntime } from '@chatglm/runtime';
import { parseBenchOptions } from './support/bench-options.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { alternatingDecodeMs, benchPrompt } from './support/decode-timing.ts';
import { randomConvertedModel } from './support/random-converted-model.ts';
import { openRandomModel, type RandomModel } from './support/random-model.ts';

/** Prefill must reach this share of the product throughput (docs/performance.md, "Targets"). */
const GEMM_SHARE = 0.6;
const QUICK_LAYERS = 3;

/** Multiply-adds x 2 of one token through one layer's four linears (attention itself is extra). */
const linearFlopsPerTokenLayer = (H: number, FF: number) => 2 * (3 * H * H + H * H + 2 * FF * H);

/** Streams of the decode step the chunks' cost is measured on. */
const DECODE_STREAMS = 16;

/** What a running stream saw while a long prompt was prefilled on its stage. */
interface PrefillGap {
  /** The longest wait between two of its steps, in ms. */
  worstMs: number;
  /** Its decode steps that ended while the prompt was being prefilled. */
  steps: number;
  /** The prefill's own compute (the stage's runs for it, without the decode steps between them), in ms. */
  prefillComputeMs: number;
}

/** One stream decodes step after step while a prompt of `tokens` is prefilled on the same stage. */
async function gapDuringPrefill(config: GlmConfig, stage: StageRuntime, tokens: number): Promise<PrefillGap> {
  const running = benchPrompt(config);
  const runningAt = SequencePositions.of(running, config);
  await stage.prefill({ seqId: 'running', tokens: running, ...runningAt.prefill(running.length), contextLength: runningAt.contextLength });
  const long = benchPrompt(config, tokens);
  const longAt = SequencePositions.of(long, config);
  let prefilling = true;
  const prefill = stage.prefill({ seqId: 'long', tokens: long, ...longAt.prefill(long.length), contextLength: longAt.contextLength }).finally(() => (prefilling = false));
  let worstMs = 0;
  let steps = 0;
  let last = performance.now();
  for (let k = 0; prefilling; k++) {
    await stage.decode([{ seqId: 'running', token: 20 + (k % 100), ...runningAt.at(running.length + k) }]);
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last);
    last = now;
    if (prefilling) steps++;
  }
  const { computeMs } = await prefill;
  await stage.release('running');
  await stage.release('long');
  if (computeMs === undefined) throw new Error('the stage did not report its prefill compute');
  return { worstMs, steps, prefillComputeMs: computeMs };
}

async function prefillMs(model: RandomModel, tokens: number, seqId: string): Promise<number> {
  const { config } = model;
  const prompt = benchPrompt(config, tokens);
  const positions = SequencePositions.of(prompt, config);
  const t0 = performance.now();
  await model.stage.prefill({ seqId, tokens: prompt, ...positions.prefill(prompt.length), contextLength: positions.contextLength });
  const ms = performance.now() - t0;
  await model.stage.release(seqId);
  return ms;
}

export async function runPrefillBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { quick, quantization, threads, json, own } = parseBenchOptions(argv, { prompt: '512', long: '1500', 'chunk-layers': '' });
  const promptTokens = Number(own.prompt);
  const longTokens = Number(own.long);
  const layers = quick ? QUICK_LAYERS : CHATGLM_6B.numLayers;
  const L = CHATGLM_6B.numLayers;
  const { hiddenSize: H, innerHiddenSize: FF } = CHATGLM_6B;
  const scale = L / layers;
  const note = quick ? `extrapolated from ${QUICK_LAYERS} layers` : undefined;
  const figures: BenchFigure[] = [];
  const started = performance.now();

  // The reference: the best the kernel reaches on any of a layer's four products at this row count.
  let gemm = 0;
  for (const [n, k] of [[3 * H, H], [H, H], [FF, H], [H, FF]] as const) gemm = Math.max(gemm, await measureGemmThroughput({ rows: promptTokens, n, k, quantization: quantization.linears, threads }));
  figures.push(figure('prefill', `matrix products alone: ${quantization.linears}, ${promptTokens} rows, best of a layer's four shapes`, gemm / 1e9, 'GFLOP/s'));
  console.log(`prefill benchmark: ChatGLM-6B width, ${layers} layers, linears ${quantization.linears}, ${threads} threads; products reach ${(gemm / 1e9).toFixed(1)} GFLOP/s at ${promptTokens} rows`);

  const model = await openRandomModel(layers, quantization, { streams: 1, steps: 0, threads, capacity: Math.max(promptTokens, longTokens) + 2 });
  try {
    await prefillMs(model, 18, 'warm-up');
    const ms = Math.min(await prefillMs(model, promptTokens, 'p1'), await prefillMs(model, promptTokens, 'p2'));
    const flops = promptTokens * layers * linearFlopsPerTokenLayer(H, FF);
    const achieved = flops / (ms / 1000);
    console.log(`  ${promptTokens}-token prompt: ${ms.toFixed(0)} ms for ${layers} layers, ${(achieved / 1e9).toFixed(1)} GFLOP/s in the linears`);
    figures.push(figure('prefill', `${promptTokens}-token prompt, ${L} layers: tokens/s`, (promptTokens * 1000) / (ms * scale), 'tokens/s', undefined, note));
    figures.push(figure('prefill', `${promptTokens}-token prompt: GFLOP/s in the linears`, achieved / 1e9, 'GFLOP/s', { value: (GEMM_SHARE * gemm) / 1e9, atMost: false, what: `${GEMM_SHARE * 100}% of the products' throughput` }));
  } finally {
    await model.stage.close();
  }

  // Chunked prefill: a stream decoding while a long prompt is admitted, on the stage as a worker
  // runs it (its bundle, in its thread), in one graph and in chunks of layers. Both are loaded at
  // once and their decode steps alternate, so that this machine's drift hits both alike; neither
  // spins between runs (chunks never do: each would hold the cores the others need).
  const chunkLayers = Number(own['chunk-layers'] || (quick ? 1 : DEFAULT_PREFILL_CHUNK_LAYERS));
  const kinds = ['whole', 'chunked'] as const;
  const stages: Record<(typeof kinds)[number], StageRuntime> = {} as never;
  let config: GlmConfig | undefined;
  try {
    for (const kind of kinds) {
      const converted = await randomConvertedModel(layers, 1, quantization, kind === 'chunked' ? chunkLayers : undefined);
      config = converted.config;
      stages[kind] = await ThreadedStageRuntime.create({ config, range: converted.ranges[0]!, weights: { kind: 'bundle', dir: converted.stageDirs[0]! }, maxSequences: DECODE_STREAMS + 1, maxTokensPerSequence: longTokens + 40, threads, spinning: false });
    }
    const what = { whole: 'one graph', chunked: `in chunks of ${chunkLayers} layer(s)` };
    for (const streams of [1, DECODE_STREAMS]) {
      const ms = await alternatingDecodeMs(config!, stages, streams, quick ? 4 : 6);
      for (const kind of kinds) figures.push(figure('prefill', `decode, ${layers} layers ${what[kind]} (steps alternating with the other): ms/step of ${streams} stream(s)`, ms[kind], 'ms'));
      console.log(`  decode of ${streams} stream(s), steps alternating: one graph ${ms.whole.toFixed(0)} ms, chunks ${ms.chunked.toFixed(0)} ms (${(ms.chunked / ms.whole).toFixed(2)}x)`);
    }
    const gaps = {} as Record<(typeof kinds)[number], PrefillGap>;
    for (const kind of kinds) {
      gaps[kind] = await gapDuringPrefill(config!, stages[kind], longTokens);
      console.log(`  ${what[kind]}: a running stream's worst gap while a ${longTokens}-token prompt is prefilled: ${(gaps[kind].worstMs / 1000).toFixed(1)} s (${gaps[kind].steps} of its steps meanwhile; the prefill's compute ${(gaps[kind].prefillComputeMs / 1000).toFixed(1)} s)`);
    }
    const chunks = Math.ceil(layers / chunkLayers);
    // One chunk: the chunked prefill's own compute over its chunks, as this very prefill ran them
    // (with steps going between them its chunks compute longer than one graph's share: docs/performance.md).
    const chunkMs = gaps.chunked.prefillComputeMs / chunks;
    if (quick) figures.push(figure('prefill', `a running stream's worst gap while a ${longTokens}-token prompt is admitted, one graph (the whole prefill), ${L} layers`, (gaps.whole.worstMs * scale) / 1000, 's', undefined, note));
    figures.push(figure('prefill', `a running stream's worst gap while a ${longTokens}-token prompt is admitted, one graph, ${layers} layers (measured)`, gaps.whole.worstMs / 1000, 's'));
    figures.push(figure('prefill', `a running stream's worst gap while a ${longTokens}-token prompt is admitted, chunks of ${chunkLayers} layer(s), ${layers} layers (measured)`, gaps.chunked.worstMs / 1000, 's', { value: chunkMs / 1000 + 1, atMost: true, what: 'one chunk of the prefill and a decode step (1 s allowed for the step)' }));
    figures.push(figure('prefill', `decode steps of a running stream between the ${chunks} chunks of a ${longTokens}-token prefill`, gaps.chunked.steps, 'steps', { value: chunks - 1, atMost: false, what: 'one between every two chunks' }));
    for (const kind of kinds) figures.push(figure('prefill', `the ${longTokens}-token prefill's compute meanwhile, ${what[kind]}, ${layers} layers`, gaps[kind].prefillComputeMs / 1000, 's'));
  } finally {
    await Promise.allSettled(Object.values(stages).map((stage) => stage.close()));
  }
  printFigures(figures);
  console.log(`\nprefill benchmark done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (json) writeFigures(json, figures);
  return figures;
}
