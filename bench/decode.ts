// `pnpm bench decode`: single-stream decode of the full ChatGLM-6B shape on this machine's CPU,
// beside the weight-streaming roofline measured in the same run.
//
// Random weights are made directly as codes (bench/support/random-stage-tensors.ts), with the
// quantization the flags give by default: `--quantize int4` quantizes the linears, the embedding and
// the tied lm_head. The roofline is the bytes a decode step reads (every layer's weights and the
// lm_head) over the read bandwidth ONNX Runtime reaches here, measured first. The lm_head is also
// timed with a float table, the old default, to show what it cost.
//
// `--quick` times models of 1 and 3 layers at full width (embedding and lm_head included) instead
// of 28, and extrapolates: one layer costs (T3 - T1) / 2, so 28 layers cost T1 + 27 x that. Its
// figures say so.
import type { GlmConfig, Quantization } from '@chatglm/glm';
import { measureReadBandwidth } from '@chatglm/runtime';
import { parseBenchOptions } from './support/bench-options.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { decodeStepMs } from './support/decode-timing.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { tokenChoiceMs } from './support/sampling-timing.ts';
import { openRandomModel } from './support/random-model.ts';
import { stageWeightBytes } from './support/weight-bytes.ts';

const CONFIG: GlmConfig = CHATGLM_6B;
/** Single-stream decode may take at most this many times the roofline (docs/performance.md, "Targets"). */
const ROOFLINE_FACTOR = 1.15;
/**
 * chatglm.cpp q4_0 on the 2-core development VM: 216 ms/token (docs/performance.md, "Targets"; measured side by side
 * with this project's engine; chatglm.cpp is not built by this benchmark). The target is 2x its speed.
 */
const CHATGLM_CPP_Q4_MS = 216;

export async function runDecodeBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { quick, quantization, threads, json, own } = parseBenchOptions(argv, { steps: '16' });
  const { linears, embedding } = quantization;
  const steps = Number(own.steps);
  const L = CONFIG.numLayers;
  const figures: BenchFigure[] = [];
  const started = performance.now();

  const bandwidth = await measureReadBandwidth({ threads });
  figures.push(figure('decode', 'read bandwidth (ONNX Runtime ReduceSum)', bandwidth / 1e9, 'GB/s'));
  const bytes = stageWeightBytes(CONFIG, L, { linears, embedding }, true);
  const rooflineMs = (bytes / bandwidth) * 1000;
  console.log(`decode benchmark: ChatGLM-6B shape, linears ${linears}, embedding and lm_head ${embedding}, ${threads} threads; ${(bytes / 1e9).toFixed(2)} GB read per token, roofline ${rooflineMs.toFixed(1)} ms at ${(bandwidth / 1e9).toFixed(1)} GB/s`);

  /** ms per decode step of the whole model cut down to `layers` layers, with the lm_head as `head`. */
  const time = async (layers: number, head: Quantization): Promise<number> => {
    const model = await openRandomModel(layers, { ...quantization, embedding: head }, { streams: 1, steps, threads });
    try {
      const ms = await decodeStepMs(model.config, [model.stage], 1, steps);
      console.log(`  ${layers} layers, lm_head ${head}: ${ms.toFixed(1)} ms/step (built in ${model.builtIn.toFixed(1)} s)`);
      return ms;
    } finally {
      await model.stage.close();
    }
  };

  const one = await time(1, embedding);
  let total: number;
  let note: string | undefined;
  if (quick) {
    const perLayer = ((await time(3, embedding)) - one) / 2;
    total = one + (L - 1) * perLayer;
    note = 'extrapolated from models of 1 and 3 layers';
  } else {
    total = await time(L, embedding);
  }
  figures.push(figure('decode', `1 stream, ${L} layers: ms/token`, total, 'ms', { value: ROOFLINE_FACTOR * rooflineMs, atMost: true, what: `${ROOFLINE_FACTOR}x the weight-streaming roofline` }, note));
  figures.push(figure('decode', `1 stream, ${L} layers: ms/token vs chatglm.cpp`, total, 'ms', { value: CHATGLM_CPP_Q4_MS / 2, atMost: true, what: `2x chatglm.cpp q4_0 (${CHATGLM_CPP_Q4_MS} ms/token on the 2-core dev VM)` }, note));
  if (embedding !== 'none') {
    const floatHead = await time(1, 'none');
    figures.push(figure('decode', `1 layer + lm_head (${embedding}): ms/step`, one, 'ms'));
    figures.push(figure('decode', '1 layer + lm_head (fp32 table, the old default): ms/step', floatHead, 'ms'));
  }
  // What the last stage adds per sequence and token, outside ONNX Runtime: choosing the token.
  const choices = [
    ['sampled (top-k 50, top-p 0.7, temperature 0.95: the defaults)', {}, {}],
    ['greedy, logprob asked for', { temperature: 0 }, {}],
    ['greedy, no logprobs asked for (the softmax is skipped)', { temperature: 0 }, { logprob: false }],
  ] as const;
  for (const [what, params, options] of choices) {
    const ms = tokenChoiceMs(params, options);
    console.log(`  choosing one token, ${what}: ${ms.toFixed(2)} ms`);
    figures.push(figure('decode', `choosing one sequence's token over 130528 logits, ${what}: ms`, ms, 'ms'));
  }
  printFigures(figures);
  console.log(`\ndecode benchmark done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (json) writeFigures(json, figures);
  return figures;
}
