// The P-tuning v2 prefix encoder at inference (docs/model.md §10): turns the checkpoint's
// `transformer.prefix_encoder.*` tensors into each layer's prefix keys and values, once per stage.
//
// The encoder maps the token indices 0..P-1 to [P, 2·L·H] (projection off: the embedding rows
// themselves; on: trans.2(tanh(trans.0(embedding)))), viewed as [P, 2L, heads, headDim]: layer l's
// keys are slot 2l and its values slot 2l+1. Only the stage's layers are computed: with the
// projection on, that is 2·(end-start)·H of trans.2's 2·L·H output rows.
//
// Precision: the official inference casts the result to the activation dtype (fp16 on GPU); we keep
// fp32 throughout, like the rest of this engine's CPU path. The prefix enters the cache as-is: no
// rotary and no LayerNorm (those apply only to the tokens' own keys).
import { headDim, type GlmConfig } from '../config.ts';
import { validateRange, type LayerRange } from '../model/layer-ranges.ts';
import type { WeightSource } from '../model/weights.ts';
import { matmulTransB } from './blocked-matmul.ts';
import { PrefixError, type PrefixKv, type PrefixLayerKv } from './prefix-kv.ts';

/** Checkpoint names of the prefix encoder's tensors (P-tuning checkpoints hold only these). */
export const PREFIX_ENCODER_TENSORS = {
  /** [P, 2·L·H] without projection, [P, H] with. */
  embedding: 'transformer.prefix_encoder.embedding.weight',
  /** Projection only: Linear(H, H), Tanh, Linear(H, 2·L·H). */
  trans0Weight: 'transformer.prefix_encoder.trans.0.weight',
  trans0Bias: 'transformer.prefix_encoder.trans.0.bias',
  trans2Weight: 'transformer.prefix_encoder.trans.2.weight',
  trans2Bias: 'transformer.prefix_encoder.trans.2.bias',
} as const;

/**
 * y [rows, outFeatures] = x [rows, inFeatures] · weight [outFeatures, inFeatures]ᵀ + bias. The
 * default is the plain-JS blocked matmul; the stage runtime passes ONNX Runtime's (much faster at
 * real size, see blocked-matmul.ts).
 */
export type LinearFn = (x: Float32Array, rows: number, inFeatures: number, weight: Float32Array, outFeatures: number, bias: Float32Array) => Float32Array | Promise<Float32Array>;

export interface EncodePrefixOptions {
  /** The model's config with `preSeqLen` (> 0) and `prefixProjection` set from the P-tuning config. */
  config: GlmConfig;
  weights: WeightSource;
  /** Layers to compute (a stage needs only its own). Default: all. */
  range?: LayerRange;
  linear?: LinearFn;
}

/** The prefix keys and values of `range`'s layers, in the KV cache's [heads, P, headDim] layout. */
export async function encodePrefix(options: EncodePrefixOptions): Promise<PrefixKv> {
  const { config, weights } = options;
  const range = options.range ?? { start: 0, end: config.numLayers };
  validateRange(config, range);
  const P = config.preSeqLen;
  if (!(P >= 1)) throw new PrefixError('the config has no pre_seq_len: a P-tuning prefix needs pre_seq_len >= 1');
  const H = config.hiddenSize;
  const L = config.numLayers;
  const tensor = (name: string, dims: number[]) => checkedTensor(weights, name, dims, config);
  const layers: PrefixLayerKv[] = [];

  if (!config.prefixProjection) {
    const emb = tensor(PREFIX_ENCODER_TENSORS.embedding, [P, 2 * L * H]);
    for (let l = range.start; l < range.end; l++) {
      // Row t of layer l's keys is emb[t, 2l·H .. (2l+1)·H), its values the next H columns.
      layers.push({ layer: l, keys: toCacheLayout(emb, config, 2 * L * H, 2 * l * H), values: toCacheLayout(emb, config, 2 * L * H, (2 * l + 1) * H) });
    }
    return { length: P, layers };
  }

  const linear = options.linear ?? matmulTransB;
  const emb = tensor(PREFIX_ENCODER_TENSORS.embedding, [P, H]);
  const w0 = tensor(PREFIX_ENCODER_TENSORS.trans0Weight, [H, H]);
  const b0 = tensor(PREFIX_ENCODER_TENSORS.trans0Bias, [H]);
  const w2 = tensor(PREFIX_ENCODER_TENSORS.trans2Weight, [2 * L * H, H]);
  const b2 = tensor(PREFIX_ENCODER_TENSORS.trans2Bias, [2 * L * H]);
  const hidden = await linear(emb, P, H, w0, H, b0);
  for (let i = 0; i < hidden.length; i++) hidden[i] = Math.tanh(hidden[i] as number);
  for (let l = range.start; l < range.end; l++) {
    // trans.2's output rows [2l·H, (2l+2)·H) are layer l's keys then values: one [2H, H] slice.
    const rows = 2 * H;
    const out = await linear(hidden, P, H, w2.subarray(2 * l * H * H, 2 * l * H * H + rows * H), rows, b2.subarray(2 * l * H, 2 * l * H + rows));
    layers.push({ layer: l, keys: toCacheLayout(out, config, rows, 0), values: toCacheLayout(out, config, rows, H) });
  }
  return { length: P, layers };
}

/**
 * Rows [P, rowWidth] whose columns [offset, offset + H) are one layer's keys (or values) as
 * head-major [heads][headDim] → [heads, P, headDim].
 */
function toCacheLayout(rows: Float32Array, config: GlmConfig, rowWidth: number, offset: number): Float32Array {
  const P = config.preSeqLen;
  const NH = config.numHeads;
  const HD = headDim(config);
  const out = new Float32Array(NH * P * HD);
  for (let t = 0; t < P; t++) {
    for (let h = 0; h < NH; h++) {
      const src = t * rowWidth + offset + h * HD;
      out.set(rows.subarray(src, src + HD), (h * P + t) * HD);
    }
  }
  return out;
}

function checkedTensor(weights: WeightSource, name: string, dims: number[], config: GlmConfig): Float32Array {
  if (!weights.has(name)) {
    const mode = config.prefixProjection ? 'prefix_projection=true' : 'prefix_projection=false';
    throw new PrefixError(`the P-tuning weights have no "${name}" (needed with ${mode}); is this a P-tuning v2 checkpoint of this model?`);
  }
  const t = weights.get(name);
  const same = t.dims.length === dims.length && t.dims.every((d, i) => d === dims[i]);
  if (!same) {
    throw new PrefixError(
      `prefix tensor "${name}" has shape [${t.dims.join(', ')}], but pre_seq_len ${config.preSeqLen}, ${config.numLayers} layers and hidden ${config.hiddenSize} ` +
        `(prefix_projection=${config.prefixProjection}) need [${dims.join(', ')}]`,
    );
  }
  return t.data;
}
