// The P-tuning v2 prefix encoder (docs/model.md §10) against a straightforward float64 reference, with and
// without the projection, in plain JS and through ONNX Runtime, from memory and from a checkpoint.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { seededRandom } from '@chatglm/common';
import { MemoryWeightSource, encodePrefix, matmulTransB, readPrefixCheckpoint, writeSafetensors, type GlmConfig } from '@chatglm/glm';
import { createOnnxLinear, loadStagePrefix } from '@chatglm/runtime';
import { tinyConfig } from '../../../test/support/models.ts';
import { prefixDiff, prefixTensors, referencePrefix, writePrefixCheckpoint } from './ptuning-support.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-prefix-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Odd sizes on purpose: P = 7 and 2·L·H rows leave edges around the matmul's 4x4 blocks.
const base = tinyConfig({ numLayers: 3, hiddenSize: 36, numHeads: 3, innerHiddenSize: 64 });
const withPrefix = (prefixProjection: boolean): GlmConfig => ({ ...base, preSeqLen: 7, prefixProjection });
const TOLERANCE = 1e-5; // fp32 results against a float64 reference, relative to 1 + |value|

function naiveMatmul(x: Float32Array, m: number, k: number, w: Float32Array, n: number, bias: Float32Array): Float64Array {
  const y = new Float64Array(m * n);
  for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) {
    let s = bias[c]!;
    for (let i = 0; i < k; i++) s += x[r * k + i]! * w[c * k + i]!;
    y[r * n + c] = s;
  }
  return y;
}

test('blocked matmul equals the naive one at sizes around its 4x4 blocks', () => {
  const rand = seededRandom(1);
  for (const [m, k, n] of [[1, 1, 1], [4, 8, 4], [5, 3, 7], [9, 33, 13], [128, 16, 6]] as const) {
    const x = Float32Array.from({ length: m * k }, () => rand() - 0.5);
    const w = Float32Array.from({ length: n * k }, () => rand() - 0.5);
    const b = Float32Array.from({ length: n }, () => rand() - 0.5);
    const got = matmulTransB(x, m, k, w, n, b);
    const want = naiveMatmul(x, m, k, w, n, b);
    for (let i = 0; i < m * n; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6, `[${m}, ${k}] x [${n}, ${k}]ᵀ element ${i}: ${got[i]} vs ${want[i]}`);
  }
});

for (const projection of [false, true]) {
  test(`encodePrefix (projection ${projection ? 'on' : 'off'}) equals the reference, for all layers and for a stage's range`, async () => {
    const config = withPrefix(projection);
    const tensors = prefixTensors(config);
    const weights = new MemoryWeightSource(new Map(Object.entries(tensors)));
    const ref = referencePrefix(config, tensors);
    const all = await encodePrefix({ config, weights });
    assert.deepEqual(all.layers.map((l) => l.layer), [0, 1, 2]);
    const stage = await encodePrefix({ config, weights, range: { start: 1, end: 3 } });
    assert.deepEqual(stage.layers.map((l) => l.layer), [1, 2], 'only the stage\'s layers are computed');
    const errors = [prefixDiff(all, ref), prefixDiff(stage, ref)];
    if (projection) {
      const onnx = await createOnnxLinear(1);
      try {
        errors.push(prefixDiff(await encodePrefix({ config, weights, range: { start: 1, end: 3 }, linear: onnx.linear }), ref));
      } finally {
        await onnx.close();
      }
    }
    console.log(`prefix encoder (projection ${projection}) max relative error ${Math.max(...errors).toExponential(2)}`);
    for (const e of errors) assert.ok(e < TOLERANCE, `error ${e}`);
    // Not vacuous: the layers differ from one another, and keys from values.
    const [l1, l2] = stage.layers;
    assert.ok(l1!.keys[0] !== l2!.keys[0] && l1!.keys[0] !== l1!.values[0]);
  });

  test(`a stage computes its prefix from a checkpoint directory (projection ${projection ? 'on, through ONNX Runtime' : 'off'})`, async () => {
    const config = withPrefix(projection);
    const tensors = prefixTensors(config, 9);
    const dir = writePrefixCheckpoint(path.join(tmp, `ckpt-${projection}`), config, tensors);
    // The base model's config has no pre_seq_len: the checkpoint's config brings it.
    const got = await loadStagePrefix({ kind: 'checkpoint', dir }, base, { start: 2, end: 3 }, 1);
    assert.equal(got!.length, 7);
    assert.deepEqual(got!.layers.map((l) => l.layer), [2]);
    assert.ok(prefixDiff(got!, referencePrefix(config, tensors)) < TOLERANCE);
  });
}

test('prefix checkpoints that do not fit are refused with a message naming the problem', async () => {
  const config = withPrefix(false);
  const tensors = prefixTensors(config);
  const load = (dir: string) => loadStagePrefix({ kind: 'checkpoint', dir }, base, { start: 0, end: 3 }, 1);

  await assert.rejects(load(path.join(tmp, 'missing')), /P-tuning checkpoint directory .*missing does not exist/);

  const noPreSeq = writePrefixCheckpoint(path.join(tmp, 'no-pre-seq'), base, tensors);
  await assert.rejects(load(noPreSeq), /has no pre_seq_len: is .* a P-tuning v2 checkpoint/);

  const otherModel = writePrefixCheckpoint(path.join(tmp, 'other-model'), { ...config, hiddenSize: 72 }, tensors);
  await assert.rejects(load(otherModel), /hidden_size is 72 but the base model has 36/);

  const wrongLength = writePrefixCheckpoint(path.join(tmp, 'wrong-length'), { ...config, preSeqLen: 8 }, tensors);
  await assert.rejects(load(wrongLength), /has shape \[7, 216\], but pre_seq_len 8, 3 layers and hidden 36 \(prefix_projection=false\) need \[8, 216\]/);

  const wrongMode = writePrefixCheckpoint(path.join(tmp, 'wrong-mode'), { ...config, prefixProjection: true }, tensors);
  await assert.rejects(load(wrongMode), /has shape \[7, 216\].*need \[7, 36\]/);

  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'config.json'), JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(noPreSeq, 'config.json'), 'utf8')), pre_seq_len: 7 }));
  fs.writeFileSync(path.join(bin, 'pytorch_model.bin'), 'not a zip');
  await assert.rejects(load(bin), /pytorch_model\.bin: not a torch\.save zip archive/);

  const baseWeights = path.join(tmp, 'base-weights');
  writePrefixCheckpoint(baseWeights, config, {});
  writeSafetensors(path.join(baseWeights, 'model.safetensors'), new Map([['transformer.word_embeddings.weight', { dims: [1], data: new Float32Array(1) }]]));
  await assert.rejects(load(baseWeights), /the weights have no "transformer\.prefix_encoder\.embedding\.weight"/);
});

test('prefix arrays given in memory are checked against the stage\'s layers', async () => {
  const config = withPrefix(false);
  const ref = referencePrefix(config, prefixTensors(config));
  const got = await loadStagePrefix({ kind: 'memory', ...ref }, base, { start: 1, end: 2 }, 1);
  assert.deepEqual(got!.layers.map((l) => l.layer), [1]);
  assert.equal(await loadStagePrefix(undefined, base, { start: 0, end: 3 }, 1), undefined);
  await assert.rejects(loadStagePrefix({ kind: 'memory', length: 7, layers: ref.layers.slice(0, 1) }, base, { start: 0, end: 2 }, 1), /no keys\/values for layer 1 \(it has layers 0\)/);
  await assert.rejects(loadStagePrefix({ kind: 'memory', length: 6, layers: ref.layers }, base, { start: 0, end: 1 }, 1), /prefix keys of layer 0 hold 252 floats; \[heads 3, P 6, headDim 12\] needs 216/);
});

for (const name of ['ptuning', 'ptuning-projection'] as const) {
  test(`the prefix of a real PyTorch P-tuning checkpoint (test/fixtures/checkpoints/${name}, a pytorch_model.bin)`, async () => {
    const dir = path.join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'checkpoints', name);
    const fixtureBase = { ...tinyConfig({ numLayers: 2 }) };
    const checkpoint = readPrefixCheckpoint(dir, fixtureBase);
    const tensors = Object.fromEntries(checkpoint.weights.names().map((n) => [n, checkpoint.weights.get(n)]));
    const got = await loadStagePrefix({ kind: 'checkpoint', dir }, fixtureBase, { start: 0, end: 2 }, 1);
    assert.equal(got!.length, checkpoint.config.preSeqLen);
    assert.ok(prefixDiff(got!, referencePrefix(checkpoint.config, tensors)) < TOLERANCE);
  });
}
