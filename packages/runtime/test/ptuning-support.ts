// Test helpers for P-tuning v2 (docs/model.md §10): random prefix-encoder tensors, a checkpoint directory
// like ptuning/main.py writes (config.json with pre_seq_len + weights), and a straightforward
// float64 reference of the prefix that follows docs/model.md §10's wording rather than the engine's code.
import fs from 'node:fs';
import path from 'node:path';
import { seededRandom } from '@chatglm/common';
import { headDim, toHfConfigJson, writeSafetensors, type GlmConfig, type HostTensor, type PrefixKv } from '@chatglm/glm';

const NAME = 'transformer.prefix_encoder.';

/** prefix_encoder tensors for `config` (whose preSeqLen and prefixProjection say which). */
export function prefixTensors(config: GlmConfig, seed = 5): Record<string, HostTensor> {
  const rand = seededRandom(seed);
  const P = config.preSeqLen;
  const H = config.hiddenSize;
  const L = config.numLayers;
  const uniform = (dims: number[], scale: number): HostTensor => ({ dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale) });
  if (!config.prefixProjection) return { [`${NAME}embedding.weight`]: uniform([P, 2 * L * H], 1.5) };
  return {
    [`${NAME}embedding.weight`]: uniform([P, H], 1),
    [`${NAME}trans.0.weight`]: uniform([H, H], 2 / Math.sqrt(H)),
    [`${NAME}trans.0.bias`]: uniform([H], 0.1),
    [`${NAME}trans.2.weight`]: uniform([2 * L * H, H], 1.5 / Math.sqrt(H)),
    [`${NAME}trans.2.bias`]: uniform([2 * L * H], 0.2),
  };
}

/** Writes a P-tuning checkpoint directory: the model config plus pre_seq_len, and the prefix weights. */
export function writePrefixCheckpoint(dir: string, config: GlmConfig, tensors: Record<string, HostTensor>): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHfConfigJson(config), null, 2));
  writeSafetensors(path.join(dir, 'model.safetensors'), new Map(Object.entries(tensors)));
  return dir;
}

/**
 * The recipe of docs/model.md §10 in float64: the encoder output E [P, 2·L·H] (projection: trans.2(tanh(trans.0(emb)))),
 * viewed as [P, 2L, heads, headDim]; layer l's key prefix is slot 2l, its value prefix slot 2l+1,
 * each permuted to the cache's [heads, P, headDim].
 */
export function referencePrefix(config: GlmConfig, tensors: Record<string, HostTensor>): PrefixKv {
  const P = config.preSeqLen;
  const H = config.hiddenSize;
  const L = config.numLayers;
  const NH = config.numHeads;
  const HD = headDim(config);
  const t = (name: string) => tensors[`${NAME}${name}`]!.data;
  const width = 2 * L * H;
  const E = new Float64Array(P * width);
  if (!config.prefixProjection) {
    E.set(t('embedding.weight'));
  } else {
    const emb = t('embedding.weight'), w0 = t('trans.0.weight'), b0 = t('trans.0.bias'), w2 = t('trans.2.weight'), b2 = t('trans.2.bias');
    for (let p = 0; p < P; p++) {
      const hidden = new Float64Array(H);
      for (let o = 0; o < H; o++) {
        let s = b0[o]!;
        for (let i = 0; i < H; i++) s += emb[p * H + i]! * w0[o * H + i]!;
        hidden[o] = Math.tanh(s);
      }
      for (let o = 0; o < width; o++) {
        let s = b2[o]!;
        for (let i = 0; i < H; i++) s += hidden[i]! * w2[o * H + i]!;
        E[p * width + o] = s;
      }
    }
  }
  const at = (p: number, slot: number, h: number, d: number) => E[((p * 2 * L + slot) * NH + h) * HD + d]!;
  const layers = [];
  for (let l = 0; l < L; l++) {
    const keys = new Float32Array(NH * P * HD);
    const values = new Float32Array(NH * P * HD);
    for (let h = 0; h < NH; h++) {
      for (let p = 0; p < P; p++) {
        for (let d = 0; d < HD; d++) {
          keys[(h * P + p) * HD + d] = at(p, 2 * l, h, d);
          values[(h * P + p) * HD + d] = at(p, 2 * l + 1, h, d);
        }
      }
    }
    layers.push({ layer: l, keys, values });
  }
  return { length: P, layers };
}

/** Largest |a - b| / (1 + |b|) over two prefixes' layers (those of `actual`). */
export function prefixDiff(actual: PrefixKv, expected: PrefixKv): number {
  assertSameLength(actual, expected);
  let worst = 0;
  for (const layer of actual.layers) {
    const want = expected.layers.find((x) => x.layer === layer.layer)!;
    for (const [a, b] of [[layer.keys, want.keys], [layer.values, want.values]] as const) {
      if (a.length !== b.length) throw new Error(`layer ${layer.layer}: ${a.length} vs ${b.length} floats`);
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
    }
  }
  return worst;
}

function assertSameLength(a: PrefixKv, b: PrefixKv): void {
  if (a.length !== b.length) throw new Error(`prefix lengths ${a.length} vs ${b.length}`);
}
