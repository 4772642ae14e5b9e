import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '@chatglm/common';
import { dequantizeNBits, dequantizeThudm, quantizationFromFlags, quantizeBlocks, repackThudm } from '@chatglm/glm';

const rand = seededRandom(5);
const randomMatrix = (n: number, k: number, scale = 1) => Float32Array.from({ length: n * k }, () => (rand() * 2 - 1) * scale);

for (const bits of [4, 8] as const) {
  test(`int${bits} blocks: every weight within half a step of its block's scale, including a padded last block`, () => {
    const n = 5;
    const k = 300; // 128 + 128 + 44: the last block is padded
    const w = randomMatrix(n, k);
    w[7] = 0; // exact zeros stay zero
    const q = quantizeBlocks(w, n, k, bits);
    assert.equal(q.scales.length, n * 3);
    const back = dequantizeNBits(q);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < k; c++) {
        const scale = q.scales[r * 3 + Math.floor(c / 128)]!;
        assert.ok(Math.abs(back[r * k + c]! - w[r * k + c]!) <= scale / 2 + 1e-7, `(${r}, ${c})`);
      }
    }
    assert.equal(back[7], 0);
    // The block's largest magnitude maps to the extreme code exactly.
    const top = bits === 4 ? 7 : 127;
    let absmax = 0;
    for (let c = 0; c < 128; c++) absmax = Math.max(absmax, Math.abs(w[c]!));
    assert.ok(Math.abs(q.scales[0]! - absmax / top) < 1e-7);
  });

  test(`THUDM int${bits} codes repack exactly into blocks (no float detour)`, () => {
    const n = 3;
    const k = 256;
    const top = bits === 4 ? 7 : 127;
    const codes = Array.from({ length: n * k }, () => Math.round((rand() * 2 - 1) * top) + 0); // + 0 turns -0 into 0
    let q: Int8Array;
    if (bits === 8) q = Int8Array.from(codes);
    else {
      q = new Int8Array((n * k) / 2);
      // High nibble = even column, both two's complement (docs/model.md §9.1).
      for (let i = 0; i < q.length; i++) q[i] = ((codes[2 * i]! << 4) | (codes[2 * i + 1]! & 0x0f)) << 24 >> 24;
    }
    const scales = Float32Array.from({ length: n }, () => rand() * 0.01 + 0.001);
    const thudm = dequantizeThudm(q, scales, n, k, bits);
    for (let i = 0; i < n * k; i++) assert.equal(thudm[i], Math.fround(codes[i]! * scales[Math.floor(i / k)]!));
    const blocks = repackThudm(q, scales, n, k, bits);
    assert.deepEqual(Array.from(dequantizeNBits(blocks), (x) => x + 0), Array.from(thudm, (x) => x + 0)); // + 0: -0 and 0 are the same weight
  });
}

test('the flags: --quantize quantizes the embedding and lm_head the same way, and keeps the KV cache in fp16, unless told otherwise', () => {
  assert.deepEqual(quantizationFromFlags({}), {});
  assert.deepEqual(quantizationFromFlags({ quantize: 'int4' }), { linears: 'int4', embedding: 'int4', kvCache: 'float16' });
  assert.deepEqual(quantizationFromFlags({ quantize: 'int8' }), { linears: 'int8', embedding: 'int8', kvCache: 'float16' });
  assert.deepEqual(quantizationFromFlags({ quantize: 'int4', quantizeEmbedding: 'none' }), { linears: 'int4', embedding: 'none', kvCache: 'float16' });
  assert.deepEqual(quantizationFromFlags({ quantize: 'int4', quantizeEmbedding: 'int8' }), { linears: 'int4', embedding: 'int8', kvCache: 'float16' });
  assert.deepEqual(quantizationFromFlags({ quantize: 'int4', kvCache: 'float32' }), { linears: 'int4', embedding: 'int4', kvCache: 'float32' });
  assert.deepEqual(quantizationFromFlags({ quantize: 'none' }), { linears: 'none' });
  assert.deepEqual(quantizationFromFlags({ kvCache: 'float16' }), { kvCache: 'float16' });
  assert.deepEqual(quantizationFromFlags({ quantizeEmbedding: 'int4' }), { embedding: 'int4' });
  assert.throws(() => quantizationFromFlags({ quantize: 'int3' }), /--quantize must be none, int8 or int4, got "int3"/);
  assert.throws(() => quantizationFromFlags({ quantize: 'int4', quantizeEmbedding: 'fp16' }), /--quantize-embedding must be none, int8 or int4, got "fp16"/);
  assert.throws(() => quantizationFromFlags({ kvCache: 'int8' }), /--kv-cache must be float32 or float16, got "int8"/);
});
