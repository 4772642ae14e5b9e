// Writes a random-weight checkpoint of a given ChatGLM shape as sharded fp16 safetensors with an
// index, streaming (chunks of a few MB), so that even the 12 GB full-size model needs little memory.
import fs from 'node:fs';
import path from 'node:path';
import { float32ToFloat16, seededRandom } from '@chatglm/common';
import { EMBEDDING_NAME, FINAL_LN_BIAS, FINAL_LN_WEIGHT, layerTensorNames, toHfConfigJson, type GlmConfig } from '@chatglm/glm';
import { buildTestTokenizerModel } from '@chatglm/tokenizer/test-model';

interface Planned {
  name: string;
  dims: number[];
  /** Values are center ± scale. */
  scale: number;
  center: number;
}

const SHARD_BYTES = 2 * 2 ** 30;
const CHUNK = 1 << 22;

function plan(c: GlmConfig): Planned[] {
  const H = c.hiddenSize;
  const FF = c.innerHiddenSize;
  const out: Planned[] = [{ name: EMBEDDING_NAME, dims: [c.vocabSize, H], scale: 0.5, center: 0 }];
  for (let l = 0; l < c.numLayers; l++) {
    const n = layerTensorNames(l);
    out.push(
      { name: n.ln1Weight, dims: [H], scale: 0.1, center: 1 },
      { name: n.ln1Bias, dims: [H], scale: 0.1, center: 0 },
      { name: n.qkvWeight, dims: [3 * H, H], scale: 1 / Math.sqrt(H), center: 0 },
      { name: n.qkvBias, dims: [3 * H], scale: 0.05, center: 0 },
      { name: n.denseWeight, dims: [H, H], scale: 1 / Math.sqrt(H), center: 0 },
      { name: n.denseBias, dims: [H], scale: 0.05, center: 0 },
      { name: n.ln2Weight, dims: [H], scale: 0.1, center: 1 },
      { name: n.ln2Bias, dims: [H], scale: 0.1, center: 0 },
      { name: n.h4hWeight, dims: [FF, H], scale: 1 / Math.sqrt(H), center: 0 },
      { name: n.h4hBias, dims: [FF], scale: 0.05, center: 0 },
      { name: n.fourhhWeight, dims: [H, FF], scale: 1 / Math.sqrt(FF), center: 0 },
      { name: n.fourhhBias, dims: [H], scale: 0.05, center: 0 },
    );
  }
  out.push({ name: FINAL_LN_WEIGHT, dims: [H], scale: 1, center: 0 }, { name: FINAL_LN_BIAS, dims: [H], scale: 0.1, center: 0 });
  return out;
}

/** Returns the bytes of weights written. */
export function writeRandomCheckpoint(dir: string, config: GlmConfig, seed = 1): number {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = plan(config);
  const shards: Planned[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const bytes = t.dims.reduce((a, b) => a * b, 1) * 2;
    if (size > 0 && size + bytes > SHARD_BYTES) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += bytes;
  }
  const rand = seededRandom(seed);
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((shard, s) => {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const t of shard) {
      const bytes = t.dims.reduce((a, b) => a * b, 1) * 2;
      header[t.name] = { dtype: 'F16', shape: t.dims, data_offsets: [offset, offset + bytes] };
      offset += bytes;
      weightMap[t.name] = file;
    }
    const json = Buffer.from(JSON.stringify(header));
    const padded = Buffer.concat([json, Buffer.from(' '.repeat((8 - (json.length % 8)) % 8))]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(padded.length));
    const fd = fs.openSync(path.join(dir, file), 'w');
    try {
      fs.writeSync(fd, len);
      fs.writeSync(fd, padded);
      const chunk = new Float32Array(CHUNK);
      for (const t of shard) {
        let left = t.dims.reduce((a, b) => a * b, 1);
        while (left > 0) {
          const n = Math.min(left, CHUNK);
          for (let i = 0; i < n; i++) chunk[i] = t.center + (rand() * 2 - 1) * t.scale;
          const half = float32ToFloat16(chunk.subarray(0, n));
          fs.writeSync(fd, new Uint8Array(half.buffer, 0, n * 2));
          left -= n;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    total += offset;
  });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 1));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...toHfConfigJson(config), torch_dtype: 'float16' }, null, 2));
  fs.writeFileSync(path.join(dir, 'ice_text.model'), buildTestTokenizerModel());
  return total;
}
