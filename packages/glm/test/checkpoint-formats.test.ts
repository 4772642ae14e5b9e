// The checkpoint readers against files written by real PyTorch and the safetensors library
// (test/fixtures/checkpoints, made by scripts/checkpoints/make_tiny_checkpoints.py): every tensor
// must come back bit for bit as the manifest records it, in every format.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { float16ToFloat32, roundToFloat16 } from '@chatglm/common';
import {
  PytorchSource,
  SafetensorsSource,
  assertShapes,
  checkShapes,
  floatWeights,
  openCheckpoint,
  parseGlmConfig,
  readModelDirectory,
  type RawTensorSource,
} from '@chatglm/glm';

const FIXTURES = path.resolve(import.meta.dirname, '../../../test/fixtures/checkpoints');
const fixture = (name: string) => path.join(FIXTURES, name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glm-formats-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Manifest {
  torch: string;
  tensors: Record<string, { dtype: string; shape: number[]; file: string; sha256: string }>;
}

function manifest(dir: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(fixture(dir), 'manifest.json'), 'utf8')) as Manifest;
}

function config(dir: string) {
  return parseGlmConfig(JSON.parse(fs.readFileSync(path.join(fixture(dir), 'config.json'), 'utf8')));
}

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** Every tensor of the manifest, and nothing else, with its dtype, shape, file and exact bytes. */
function assertMatchesManifest(source: RawTensorSource, m: Manifest): void {
  assert.deepEqual(source.names().sort(), Object.keys(m.tensors).sort());
  for (const [name, want] of Object.entries(m.tensors)) {
    const info = source.info(name);
    assert.equal(info.dtype, want.dtype, name);
    assert.deepEqual(info.dims, want.shape, name);
    assert.equal(path.basename(info.file), want.file, name);
    const bytes = source.read(name);
    assert.equal(bytes.byteLength, info.byteLength, name);
    assert.equal(sha256(bytes), want.sha256, `${name}: bytes differ from what torch wrote`);
  }
}

const FORMATS = [
  ['pytorch-sharded', PytorchSource],
  ['pytorch-single', PytorchSource],
  ['pytorch-torch1', PytorchSource],
  ['safetensors-single', SafetensorsSource],
  ['safetensors-sharded', SafetensorsSource],
  ['thudm-int8', PytorchSource],
  ['thudm-int4', PytorchSource],
  ['ptuning', PytorchSource],
  ['ptuning-projection', PytorchSource],
] as const;

for (const [dir, kind] of FORMATS) {
  test(`${dir}: every tensor bit for bit as torch wrote it, and its config agrees`, () => {
    const source = openCheckpoint(fixture(dir));
    assert.ok(source instanceof kind, `openCheckpoint picks ${kind.name}`);
    assertMatchesManifest(source, manifest(dir));
    const ptuning = dir.startsWith('ptuning');
    assert.deepEqual(checkShapes(config(dir), source, { partial: ptuning }), []);
  });
}

test('sharded and single, .bin (torch 2 and torch 1) and safetensors: identical tensors', () => {
  const single = manifest('pytorch-single').tensors;
  assert.equal(Object.keys(single).length, 1 + 2 * 13 + 2 + 1); // embedding, 2 layers, final LN, lm_head
  assert.match(manifest('pytorch-torch1').torch, /^1\./);
  for (const other of ['pytorch-sharded', 'pytorch-torch1', 'safetensors-single', 'safetensors-sharded']) {
    const t = manifest(other).tensors;
    assert.deepEqual(Object.keys(t).sort(), Object.keys(single).sort(), other);
    for (const [name, s] of Object.entries(single)) assert.equal(t[name]?.sha256, s.sha256, `${other} ${name}`);
  }
  // And through the readers, not just the manifests: same bytes from every directory.
  const sources = ['pytorch-single', 'pytorch-sharded', 'pytorch-torch1', 'safetensors-single', 'safetensors-sharded'].map((d) => openCheckpoint(fixture(d)));
  for (const name of Object.keys(single)) {
    const [first, ...rest] = sources.map((s) => sha256(s.read(name)));
    for (const h of rest) assert.equal(h, first, name);
  }
  // The real index's split: layer 1's dense_4h_to_h opens the second shard.
  const sharded = openCheckpoint(fixture('pytorch-sharded'));
  assert.match(sharded.info('transformer.layers.1.mlp.dense_h_to_4h.weight').file, /pytorch_model-00001-of-00003\.bin$/);
  assert.match(sharded.info('transformer.layers.1.mlp.dense_4h_to_h.weight').file, /pytorch_model-00002-of-00003\.bin$/);
  assert.match(sharded.info('lm_head.weight').file, /pytorch_model-00003-of-00003\.bin$/);
});

test('floatWeights widens fp16 exactly and refuses quantized tensors by name', () => {
  const raw = openCheckpoint(fixture('pytorch-sharded'));
  const weights = floatWeights(raw);
  const name = 'transformer.layers.0.attention.query_key_value.weight';
  const bytes = raw.read(name);
  const got = weights.get(name);
  assert.deepEqual(got.dims, [192, 64]);
  assert.deepEqual(got.data, float16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)));
  assert.ok(got.data.some((x) => x !== 0));
  const int8 = floatWeights(openCheckpoint(fixture('thudm-int8')));
  assert.equal(int8.get('transformer.layers.0.attention.dense.bias').dims[0], 64);
  assert.throws(() => int8.get('transformer.layers.0.attention.dense.weight'), /pytorch_model\.bin: tensor "transformer\.layers\.0\.attention\.dense\.weight" is quantized \(I8\)/);
  assert.throws(() => weights.get('nope'), /tensor "nope" is missing from the checkpoint/);
});

/** THUDM's quantization (docs/model.md §9.1) redone from the fp16 weights: fp16 scale, torch's round half to even. */
function thudmQuantize(w: Uint16Array, rows: number, cols: number, bits: 4 | 8): { q: Int8Array; scale: Float32Array } {
  const f = float16ToFloat32(w);
  const scale = new Float32Array(rows);
  const q = new Int8Array(bits === 8 ? rows * cols : (rows * cols) / 2);
  const roundEven = (x: number) => {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  };
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(f[r * cols + c] as number));
    // torch computes half arithmetic in fp32 and rounds the result to fp16.
    const s = roundToFloat16(Math.fround(max / (2 ** (bits - 1) - 1)));
    scale[r] = s;
    const v = Array.from({ length: cols }, (_, c) => roundEven(roundToFloat16(Math.fround((f[r * cols + c] as number) / s))));
    if (bits === 8) v.forEach((x, c) => (q[r * cols + c] = x));
    else for (let j = 0; j < cols / 2; j++) q[(r * cols) / 2 + j] = ((v[2 * j] as number) << 4) | ((v[2 * j + 1] as number) & 0x0f);
  }
  return { q, scale };
}

for (const bits of [8, 4] as const) {
  test(`THUDM int${bits}: raw I8 weights [out, in${bits === 4 ? '/2' : ''}] + fp16 scales, exactly as docs/model.md §9.1 quantizes`, () => {
    const fp16 = openCheckpoint(fixture('pytorch-single'));
    const quant = openCheckpoint(fixture(`thudm-int${bits}`));
    const cfg = config(`thudm-int${bits}`);
    assert.equal(cfg.quantizationBit, bits);
    let linears = 0;
    for (const name of fp16.names()) {
      const linear = /^transformer\.layers\.\d+\.(attention\.query_key_value|attention\.dense|mlp\.dense_h_to_4h|mlp\.dense_4h_to_h)\.weight$/.test(name);
      if (!linear) {
        assert.equal(sha256(quant.read(name)), sha256(fp16.read(name)), `${name} is not quantized`);
        continue;
      }
      linears++;
      const [rows, cols] = fp16.info(name).dims as [number, number];
      const info = quant.info(name);
      assert.equal(info.dtype, 'I8');
      assert.deepEqual(info.dims, [rows, bits === 8 ? cols : cols / 2]);
      const scaleInfo = quant.info(name.replace(/weight$/, 'weight_scale'));
      assert.deepEqual([scaleInfo.dtype, scaleInfo.dims], ['F16', [rows]]);
      const w = fp16.read(name);
      const want = thudmQuantize(new Uint16Array(w.buffer, w.byteOffset, w.length / 2), rows, cols, bits);
      const got = quant.read(name);
      assert.deepEqual(new Int8Array(got.buffer, got.byteOffset, got.length), want.q, name);
      assert.deepEqual(floatWeights(quant).get(scaleInfo.name).data, want.scale, scaleInfo.name);
    }
    assert.equal(linears, 8);
    // Config and checkpoint agree; the same weights under an unquantized config do not.
    assert.deepEqual(checkShapes(cfg, quant), []);
    const problems = checkShapes({ ...cfg, quantizationBit: 0 }, quant);
    // int8 keeps the fp shape [out, in], so only its dtype is wrong; int4 halves the columns.
    assert.ok(problems.some((p) => p.kind === (bits === 8 ? 'dtype' : 'shape') && p.name === 'transformer.layers.0.attention.dense.weight'), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.kind === 'unexpected' && p.name === 'transformer.layers.0.attention.dense.weight_scale'));
  });
}

test('dtypes fixture: every RawDtype, views at storage offsets, scalar, empty tensor, Parameter', () => {
  const m = manifest('dtypes');
  const pt = new PytorchSource(fixture('dtypes'));
  const st = new SafetensorsSource(fixture('dtypes'));
  assertMatchesManifest(pt, m);
  assertMatchesManifest(st, { ...m, tensors: Object.fromEntries(Object.entries(m.tensors).map(([k, v]) => [k, { ...v, file: 'model.safetensors' }])) });
  assert.deepEqual([...new Set(Object.values(m.tensors).map((t) => t.dtype))].sort(), ['BF16', 'F16', 'F32', 'I32', 'I64', 'I8', 'U8']);
  const i64 = pt.read('i64');
  assert.deepEqual([...new BigInt64Array(i64.buffer)], [-(2n ** 63n), 1n, 2n ** 63n - 1n]);
  assert.deepEqual([...new Int8Array(pt.read('i8').buffer)], [-128, -7, 0, 7, 100, 127]);
  const w = floatWeights(pt);
  assert.deepEqual(Array.from(w.get('f16').data), [1, -2, 0.5, 65504, 2 ** -24, Infinity]);
  assert.deepEqual(w.get('scalar'), { dims: [], data: Float32Array.of(3.5) });
  assert.deepEqual(w.get('empty'), { dims: [0, 4], data: new Float32Array(0) });
  assert.equal(w.get('bf16').data.length, 5);
  // Two views of one storage: their bytes are the storage's elements 0..3 and 6..10.
  const head = w.get('view.head').data;
  const tail = w.get('view.tail').data;
  assert.equal(head.length, 3);
  assert.equal(tail.length, 4);
  assert.notDeepEqual(Array.from(head), Array.from(tail.subarray(0, 3)));
  assert.throws(() => w.get('i32'), /tensor "i32" holds integers \(I32\)/);
});

test('readModelDirectory reads PyTorch and THUDM quantized directories', () => {
  for (const [dir, format] of [['pytorch-sharded', 'pytorch'], ['pytorch-single', 'pytorch'], ['safetensors-sharded', 'safetensors'], ['thudm-int4', 'pytorch'], ['thudm-int8', 'pytorch']] as const) {
    const copy = path.join(tmp, dir);
    fs.cpSync(fixture(dir), copy, { recursive: true });
    fs.writeFileSync(path.join(copy, 'ice_text.model'), '');
    const model = readModelDirectory(copy);
    assert.equal(model.weightsFormat, format, dir);
    assert.equal(model.config.quantizationBit, dir.startsWith('thudm') ? Number(dir.slice(-1)) : 0);
    assert.equal(readModelDirectory(copy, { weights: false }).weightsFormat, 'none');
    assertShapes(model.config, openCheckpoint(copy));
  }
});
