// The zip layer in its three forms (plain, ZIP64 end records as torch 2 writes them, and every
// field saturated into ZIP64 extras as multi-GB shards need), with shared storages and views.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { PytorchSource, readTorchArchive } from '@chatglm/glm';
import { writeTorchBin, type TensorSpec } from './torch-bin-writer.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glm-torch-archive-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const storage = new Float32Array(Array.from({ length: 20 }, (_, i) => i * 0.5 - 3));
const longs = BigInt64Array.of(-5n, 2n ** 40n, 7n);

const tensors: TensorSpec[] = [
  { name: 'whole', dtype: 'F32', dims: [4, 5], key: 's' },
  { name: 'rows', dtype: 'F32', dims: [2, 5], key: 's', storageOffset: 10 },
  { name: 'tail', dtype: 'F32', dims: [3], key: 's', storageOffset: 17 },
  // A size-1 dimension may carry any stride and still be contiguous.
  { name: 'column-of-one', dtype: 'F32', dims: [5, 1], key: 's', stride: [1, 99] },
  { name: 'longs', dtype: 'I64', dims: [3], key: 'l' },
];

for (const zip64 of ['none', 'eocd', 'full'] as const) {
  test(`zip64=${zip64}: tensors, views at offsets and shared storages read back exactly`, () => {
    const file = path.join(tmp, `${zip64}.bin`);
    writeTorchBin(
      file,
      tensors,
      [
        { key: 's', bytes: new Uint8Array(storage.buffer), byteLength: storage.byteLength },
        { key: 'l', bytes: new Uint8Array(longs.buffer), byteLength: longs.byteLength },
      ],
      { zip64, archive: `some-name-${zip64}` },
    );
    const t = readTorchArchive(file);
    assert.deepEqual([...t.keys()], tensors.map((x) => x.name));
    const dir = path.join(tmp, zip64);
    fs.mkdirSync(dir);
    fs.renameSync(file, path.join(dir, 'pytorch_model.bin'));
    const src = new PytorchSource(dir);
    const f32 = (name: string) => Array.from(new Float32Array(src.read(name).buffer));
    assert.deepEqual(f32('whole'), Array.from(storage));
    assert.deepEqual(f32('rows'), Array.from(storage.subarray(10, 20)));
    assert.deepEqual(f32('tail'), Array.from(storage.subarray(17, 20)));
    assert.deepEqual(f32('column-of-one'), Array.from(storage.subarray(0, 5)));
    assert.deepEqual(Array.from(new BigInt64Array(src.read('longs').buffer)), Array.from(longs));
    assert.deepEqual(src.info('rows'), { name: 'rows', dtype: 'F32', dims: [2, 5], file: path.join(dir, 'pytorch_model.bin'), byteLength: 40 });
  });
}
