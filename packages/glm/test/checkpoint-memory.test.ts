// Reading a checkpoint must hold one tensor at a time, never a whole shard: a real ChatGLM-6B shard
// is ~2 GB. A ~100 MB single-shard .bin is written here in TypeScript (no Python needed), then every
// tensor is read while the process's ArrayBuffer memory and RSS are watched.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { floatWeights, openCheckpoint } from '@chatglm/glm';
import { writeTorchBin, type StorageSpec, type TensorSpec } from './torch-bin-writer.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glm-ckpt-memory-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TENSORS = 24;
const ROWS = 1024;
const COLS = 1024;
const TENSOR_BYTES = ROWS * COLS * 4; // 4 MiB; 24 of them make a 96 MiB shard
const MiB = 2 ** 20;

function tensorBytes(i: number): Uint8Array {
  const data = new Float32Array(ROWS * COLS);
  for (let j = 0; j < data.length; j++) data[j] = ((j * 31 + i * 7) % 1009) / 13 - i;
  return new Uint8Array(data.buffer);
}

test('reading every tensor of a ~100 MB .bin holds about one tensor, not the shard', (t) => {
  const dir = path.join(tmp, 'big');
  fs.mkdirSync(dir);
  const hashes = new Map<string, string>();
  const tensors: TensorSpec[] = [];
  const storages: StorageSpec[] = [];
  for (let i = 0; i < TENSORS; i++) {
    const name = `transformer.layers.${i}.mlp.dense_h_to_4h.weight`;
    tensors.push({ name, dtype: 'F32', dims: [ROWS, COLS], key: String(i) });
    storages.push({
      key: String(i),
      byteLength: TENSOR_BYTES,
      bytes: () => {
        const b = tensorBytes(i);
        hashes.set(name, crypto.createHash('sha256').update(b).digest('hex'));
        return b;
      },
    });
  }
  const file = path.join(dir, 'pytorch_model.bin');
  writeTorchBin(file, tensors, storages, { zip64: 'eocd', archive: 'pytorch_model' });
  assert.ok(fs.statSync(file).size > TENSORS * TENSOR_BYTES);

  gc();
  const baseBuffers = process.memoryUsage().arrayBuffers;
  const baseRss = process.memoryUsage().rss;
  const source = openCheckpoint(dir);
  const weights = floatWeights(source);
  // Per read: what reading one tensor allocates, counted before any collection, so a transient copy
  // of the shard would show. Overall: the most held at any time (V8 may keep the previous
  // iteration's buffers alive across gc(), so this is a few tensors, never the shard).
  let perRead = 0;
  let peakBuffers = 0;
  let peakRss = 0;
  for (const name of source.names()) {
    gc();
    const before = process.memoryUsage().arrayBuffers;
    const sample = () => {
      const m = process.memoryUsage();
      perRead = Math.max(perRead, m.arrayBuffers - before);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers - baseBuffers);
      peakRss = Math.max(peakRss, m.rss - baseRss);
    };
    const bytes = source.read(name);
    sample();
    assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), hashes.get(name), name);
    const w = weights.get(name); // a second read, as fp32 (a view: no conversion copy for F32)
    sample();
    assert.deepEqual(w.dims, [ROWS, COLS]);
  }
  const size = fs.statSync(file).size;
  t.diagnostic(`${source.names().length} tensors of ${TENSOR_BYTES / MiB} MiB from a ${(size / MiB).toFixed(1)} MiB shard: per read ${(perRead / MiB).toFixed(1)} MiB, peak ArrayBuffers ${(peakBuffers / MiB).toFixed(1)} MiB, peak RSS growth ${(peakRss / MiB).toFixed(1)} MiB`);
  assert.equal(source.names().length, TENSORS);
  assert.ok(perRead <= 2 * TENSOR_BYTES + MiB, `one tensor's two reads allocated ${perRead} bytes`);
  assert.ok(peakBuffers < size / 3, `peak ArrayBuffer growth ${peakBuffers} bytes`);
  assert.ok(peakRss < size / 2, `peak RSS growth ${peakRss} bytes`);
});
