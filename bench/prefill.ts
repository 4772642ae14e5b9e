// `pnpm bench prefill`: how fast a prompt goes through the model at the full ChatGLM-6B width, beside
// the matrix-product throughput ONNX Runtime reaches on this machine with the layers' own kernel
// (MatMulNBits at the prompt's row count), measured in the same run. Also what a long prompt costs
// the streams already decoding: there is no chunked prefill, so a running stream waits for the whole
// prefill of a newly admitted prompt between two of its tokens.
//
// `--quick` uses a model of 3 layers at full width; the throughput ratio does not depend on the
// layer count, and the figures in seconds for 28 layers are extrapolated and say so.
import { SequencePositions } from '@chatglm/glm';
import { measureGemmThroughput } from '@chatglm/runtime';
import { parseBenchOptions } from './support/bench-options.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { openRandomModel, type RandomModel } from './support/random-model.ts';

/** Prefill must reach this share of the product throughput (docs/performance.md, "Targets"). */
const GEMM_SHARE = 0.6;
const QUICK_LAYERS = 3;

/** Multiply-adds x 2 of one token through one layer's four linears (attention itself is extra). */
const linearFlopsPerTokenLayer = (H: number, FF: number) => 2 * (3 * H * H + H * H + 2 * FF * H);

async function prefillMs(model: RandomModel, tokens: number, seqId: string): Promise<number> {
  const { config } = model;
  const prompt = [...Array.from({ length: tokens - 2 }, (_, i) => 10 + (i % 1000)), config.gmaskTokenId, config.bosTokenId];
  const positions = SequencePositions.of(prompt, config);
  const t0 = performance.now();
  await model.stage.prefill({ seqId, tokens: prompt, ...positions.prefill(prompt.length), contextLength: positions.contextLength });
  const ms = performance.now() - t0;
  await model.stage.release(seqId);
  return ms;
}

export async function runPrefillBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { quick, quantization, threads, json, own } = parseBenchOptions(argv, { prompt: '512', long: '1500' });
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
    const stall = await prefillMs(model, longTokens, 'long');
    figures.push(figure('prefill', `a running stream's gap while a ${longTokens}-token prompt is admitted (no chunked prefill: the whole prefill), ${L} layers`, (stall * scale) / 1000, 's', undefined, note));
  } finally {
    await model.stage.close();
  }
  printFigures(figures);
  console.log(`\nprefill benchmark done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (json) writeFigures(json, figures);
  return figures;
}
