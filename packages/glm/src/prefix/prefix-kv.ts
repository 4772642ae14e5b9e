// The P-tuning v2 prefix of a stage's layers in the layout the KV cache stores (docs/model.md §10): per
// layer, the P key rows and P value rows that every sequence attends to before its own tokens.
import { ChatGlmError } from '@chatglm/common';
import { headDim, type GlmConfig } from '../config.ts';
import type { LayerRange } from '../model/layer-ranges.ts';

/** One layer's prefix: keys and values each [heads, P, headDim], as-is (no rotary, no LayerNorm). */
export interface PrefixLayerKv {
  /** Absolute layer index. */
  layer: number;
  keys: Float32Array;
  values: Float32Array;
}

export interface PrefixKv {
  /** pre_seq_len: the number of prefix positions P. */
  length: number;
  /** At least the layers of the stage that uses it; others are ignored. */
  layers: PrefixLayerKv[];
}

export class PrefixError extends ChatGlmError {
  constructor(message: string) {
    super('invalid_prefix', message);
  }
}

/**
 * The prefix layers of `range` in layer order, after checking that each is present with
 * [heads, P, headDim] floats for this config.
 */
export function prefixLayersFor(kv: PrefixKv, config: GlmConfig, range: LayerRange): PrefixLayerKv[] {
  const P = kv.length;
  if (!Number.isInteger(P) || P < 1) throw new PrefixError(`prefix length must be a positive integer, got ${P}`);
  const size = config.numHeads * P * headDim(config);
  const out: PrefixLayerKv[] = [];
  for (let l = range.start; l < range.end; l++) {
    const layer = kv.layers.find((x) => x.layer === l);
    if (!layer) throw new PrefixError(`the prefix has no keys/values for layer ${l} (it has layers ${kv.layers.map((x) => x.layer).join(', ') || 'none'})`);
    for (const [what, a] of [['keys', layer.keys], ['values', layer.values]] as const) {
      if (a.length !== size) {
        throw new PrefixError(`prefix ${what} of layer ${l} hold ${a.length} floats; [heads ${config.numHeads}, P ${P}, headDim ${headDim(config)}] needs ${size}`);
      }
    }
    out.push(layer);
  }
  return out;
}
