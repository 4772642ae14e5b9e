// The graph's 2-D rotary at head dim 128, checked against values computed by hand from spec
// §5.2-5.3, on each device (the rotary is ONNX Runtime's RotaryEmbedding over a view of the QKV
// rows, whose layout these values would expose). (The golden data has head dim 4, where
// rotate-half and interleaved coincide and the single frequency is 1.0, so it cannot catch either
// mistake.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '@chatglm/common';
import { layerTensorNames, rotateHeadReference, type HostTensor } from '@chatglm/glm';
import { StageExecutor, type StageDevice } from '@chatglm/runtime';
import { tinyConfig } from '../../../test/support/models.ts';
import { STAGE_DEVICES } from '../../../test/support/stage-devices.ts';

const HD = 128;
const config = tinyConfig({ hiddenSize: HD, numHeads: 1, numLayers: 1, innerHiddenSize: 32, vocabSize: 8, maxSequenceLength: 8, gmaskTokenId: 6, bosTokenId: 7, maskTokenId: 5, eosTokenId: 4 });

/** Weights under which every token's key is exactly `key`: LN1 outputs its bias, the QKV projection its bias. */
function weightsWithKey(key: Float64Array): Record<string, HostTensor> {
  const zeros = (dims: number[]) => ({ dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) });
  const ones = (dims: number[]) => ({ dims, data: new Float32Array(dims[0]!).fill(1) });
  const n = layerTensorNames(0);
  const qkvBias = new Float32Array(3 * HD);
  qkvBias.set(key, HD); // per-head layout [q | k | v]
  const rand = seededRandom(3);
  const emb = { dims: [8, HD], data: Float32Array.from({ length: 8 * HD }, () => rand() - 0.5) };
  return {
    'transformer.word_embeddings.weight': emb,
    [n.ln1Weight]: zeros([HD]),
    [n.ln1Bias]: ones([HD]),
    [n.qkvWeight]: zeros([3 * HD, HD]),
    [n.qkvBias]: { dims: [3 * HD], data: qkvBias },
    [n.denseWeight]: zeros([HD, HD]),
    [n.denseBias]: zeros([HD]),
    [n.ln2Weight]: ones([HD]),
    [n.ln2Bias]: zeros([HD]),
    [n.h4hWeight]: zeros([32, HD]),
    [n.h4hBias]: zeros([32]),
    [n.fourhhWeight]: zeros([HD, 32]),
    [n.fourhhBias]: zeros([HD]),
    'transformer.final_layernorm.weight': ones([HD]),
    'transformer.final_layernorm.bias': zeros([HD]),
  };
}

async function cachedKeys(device: StageDevice, key: Float64Array, positions: number[], blockPositions: number[]): Promise<Float32Array> {
  const stage = await StageExecutor.create({ config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors: weightsWithKey(key) }, maxSequences: 1, maxTokensPerSequence: 8, threads: 1, device });
  try {
    await stage.prefill({ seqId: 's', tokens: positions.map(() => 1), positions, blockPositions, contextLength: positions.length });
    return (await stage.readCache('s', 0)).keys;
  } finally {
    await stage.close();
  }
}

for (const { device, skip } of STAGE_DEVICES) {
  test(`on ${device}, unit vectors rotate with the hand-computed cos/sin of the fp16-rounded frequencies (rotate-half pairs m, m+32)`, { skip }, async () => {
    const key = new Float64Array(HD);
    key[1] = 1; // first half, m = 1: rotated by the position id with theta_1 = 0.75
    key[64 + 2] = 1; // second half, m = 2: rotated by the block position with theta_2 = 0.5625
    const p = 2000;
    const q = 3;
    const k = await cachedKeys(device, key, [p], [q]);
    const a = Math.fround(p * 0.75); // 1500 rad: exact theta_1 = 0.749894 would give 1499.79
    const b = Math.fround(q * 0.5625);
    const expected = new Map<number, number>([
      [1, Math.cos(a)],
      [1 + 32, Math.sin(a)], // rotate-half partner; interleaved would have used dim 0
      [64 + 2, Math.cos(b)],
      [64 + 2 + 32, Math.sin(b)],
    ]);
    for (let d = 0; d < HD; d++) {
      const want = expected.get(d) ?? 0;
      assert.ok(Math.abs((k[d] as number) - want) < 1e-5, `dim ${d}: got ${k[d]}, want ${want}`);
    }
    // Exact (un-rounded) theta would put cos at a visibly different value.
    assert.ok(Math.abs(Math.cos(a) - Math.cos(p * (1 / 10000 ** (2 / 64)))) > 0.1);
  });

  test(`on ${device}, random keys at several 2-D positions match the formula of docs/model.md §5.3`, { skip }, async () => {
    const rand = seededRandom(99);
    const key = Float64Array.from({ length: HD }, () => rand() * 2 - 1);
    const positions = [0, 5, 1023, 2047];
    const blocks = [0, 1, 700, 2];
    const keys = await cachedKeys(device, key, positions, blocks);
    positions.forEach((p, t) => {
      const want = rotateHeadReference(key, p, blocks[t]!);
      for (let d = 0; d < HD; d++) assert.ok(Math.abs((keys[t * HD + d] as number) - (want[d] as number)) < 2e-5, `token ${t} dim ${d}`);
    });
  });
}
