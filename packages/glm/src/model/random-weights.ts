// Deterministic random weights for a ChatGLM-architecture model: the embedded default model, the
// engine benchmark and tests. Same config and seed give the same bytes on every machine.
import { seededRandom } from '@chatglm/common';
import type { GlmConfig } from '../config.ts';
import { EMBEDDING_NAME, FINAL_LN_BIAS, FINAL_LN_WEIGHT, layerTensorNames, type HostTensor } from './weights.ts';

export interface RandomWeightsOptions {
  seed?: number;
  /** Layers to generate (default all): a benchmark stage needs only its own. */
  layers?: { start: number; end: number };
  /** Generate the embedding (first/last stage). Default true. */
  embedding?: boolean;
}

/**
 * Linear weights ~ U(-1/sqrt(in), 1/sqrt(in)) (so activations keep their scale), biases small,
 * LayerNorm weights near 1 (the final one of random sign), embedding rows ~ U(-0.5, 0.5).
 */
export function randomGlmWeights(config: GlmConfig, options: RandomWeightsOptions = {}): Map<string, HostTensor> {
  const rand = seededRandom(options.seed ?? 42);
  const out = new Map<string, HostTensor>();
  const H = config.hiddenSize;
  const FF = config.innerHiddenSize;
  const uniform = (dims: number[], scale: number, center = 0): HostTensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = center + (rand() * 2 - 1) * scale;
    return { dims, data };
  };
  if (options.embedding !== false) out.set(EMBEDDING_NAME, uniform([config.vocabSize, H], 0.5));
  const { start, end } = options.layers ?? { start: 0, end: config.numLayers };
  for (let l = start; l < end; l++) {
    const n = layerTensorNames(l);
    out.set(n.ln1Weight, uniform([H], 0.1, 1));
    out.set(n.ln1Bias, uniform([H], 0.1));
    out.set(n.qkvWeight, uniform([3 * H, H], 1 / Math.sqrt(H)));
    out.set(n.qkvBias, uniform([3 * H], 0.05));
    out.set(n.denseWeight, uniform([H, H], 1 / Math.sqrt(H)));
    out.set(n.denseBias, uniform([H], 0.05));
    out.set(n.ln2Weight, uniform([H], 0.1, 1));
    out.set(n.ln2Bias, uniform([H], 0.1));
    out.set(n.h4hWeight, uniform([FF, H], 1 / Math.sqrt(H)));
    out.set(n.h4hBias, uniform([FF], 0.05));
    out.set(n.fourhhWeight, uniform([H, FF], 1 / Math.sqrt(FF)));
    out.set(n.fourhhBias, uniform([H], 0.05));
  }
  if (end === config.numLayers) {
    // Random signs here keep the tied lm_head from simply echoing the last input token (the
    // residual carries its embedding through every layer), so greedy text varies.
    out.set(FINAL_LN_WEIGHT, uniform([H], 1));
    out.set(FINAL_LN_BIAS, uniform([H], 0.1));
  }
  return out;
}
