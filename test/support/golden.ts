// Reads chatglm.cpp's golden files (see test/fixtures/README.md) into a config, HF-named tensors
// and the expected outputs.
import fs from 'node:fs';
import path from 'node:path';
import { float16BitsToNumber } from '@chatglm/common';
import type { GlmConfig, HostTensor } from '@chatglm/glm';

export const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');

export interface Golden {
  config: GlmConfig;
  tensors: Record<string, HostTensor>;
  /** P-tuning prefix [2 (key, value), heads, prefixLen, headDim] as fp32, when present. */
  prefix?: { keys: Float32Array; values: Float32Array; length: number };
  x1: number[];
  y1: Float32Array;
  x2: number[];
  y2: Float32Array;
  x3: number[];
  y3: Float32Array;
}

export const GOLDEN_CONFIG: GlmConfig = {
  vocabSize: 5,
  hiddenSize: 32,
  numLayers: 1,
  numHeads: 8,
  innerHiddenSize: 128,
  layernormEpsilon: 1e-5,
  maxSequenceLength: 16,
  bosTokenId: 4,
  eosTokenId: 4,
  maskTokenId: 3,
  gmaskTokenId: 3,
  padTokenId: 0,
  preSeqLen: 0,
  prefixProjection: false,
  quantizationBit: 0,
};

/** `dir`: where the golden files are (default test/fixtures; the device check brings its own copy). */
export function readGolden(file: 'glm_model.data' | 'glm_ptuning_v2_model.data', dir = FIXTURES): Golden {
  const buf = fs.readFileSync(path.join(dir, file));
  let off = 0;
  const f32 = (n: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(off + 4 * i);
    off += 4 * n;
    return out;
  };
  const i32 = (n: number) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(buf.readInt32LE(off + 4 * i));
    off += 4 * n;
    return out;
  };
  let prefix: Golden['prefix'];
  const prefixLen = 5;
  if (file === 'glm_ptuning_v2_model.data') {
    const n = 8 * prefixLen * 4;
    const all = new Float32Array(2 * n);
    for (let i = 0; i < 2 * n; i++) all[i] = float16BitsToNumber(buf.readUInt16LE(off + 2 * i));
    off += 4 * n;
    prefix = { keys: all.slice(0, n), values: all.slice(n), length: prefixLen };
  }
  const t = (dims: number[]): HostTensor => ({ dims, data: f32(dims.reduce((a, b) => a * b, 1)) });
  const p = 'transformer.layers.0';
  const tensors: Record<string, HostTensor> = {};
  tensors['transformer.word_embeddings.weight'] = t([5, 32]);
  tensors[`${p}.input_layernorm.weight`] = t([32]);
  tensors[`${p}.input_layernorm.bias`] = t([32]);
  tensors[`${p}.attention.query_key_value.weight`] = t([96, 32]);
  tensors[`${p}.attention.query_key_value.bias`] = t([96]);
  tensors[`${p}.attention.dense.weight`] = t([32, 32]);
  tensors[`${p}.attention.dense.bias`] = t([32]);
  tensors[`${p}.post_attention_layernorm.weight`] = t([32]);
  tensors[`${p}.post_attention_layernorm.bias`] = t([32]);
  tensors[`${p}.mlp.dense_h_to_4h.weight`] = t([128, 32]);
  tensors[`${p}.mlp.dense_h_to_4h.bias`] = t([128]);
  tensors[`${p}.mlp.dense_4h_to_h.weight`] = t([32, 128]);
  tensors[`${p}.mlp.dense_4h_to_h.bias`] = t([32]);
  tensors['transformer.final_layernorm.weight'] = t([32]);
  tensors['transformer.final_layernorm.bias'] = t([32]);
  const x1 = i32(3);
  const y1 = f32(3 * 32);
  const x2 = i32(1);
  const y2 = f32(32);
  const x3 = i32(1);
  const y3 = f32(32);
  if (off !== buf.length) throw new Error(`${file}: parsed ${off} of ${buf.length} bytes`);
  return { config: GOLDEN_CONFIG, tensors, prefix, x1, y1, x2, y2, x3, y3 };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** ‖a − ref‖ / ‖ref‖ over all elements. */
export function relativeError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += ((a[i] as number) - (ref[i] as number)) ** 2;
    den += (ref[i] as number) ** 2;
  }
  return Math.sqrt(num / den);
}
