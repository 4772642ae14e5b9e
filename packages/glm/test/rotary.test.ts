import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberToFloat16Bits } from '@chatglm/common';
import { rotaryFrequencies, rotaryTables, rotateHeadReference } from '@chatglm/glm';

// fp16 bit patterns of theta_m for head dim 128, from docs/model.md §5.3.
const SPEC_THETA_BITS = [
  0x3c00, 0x3a00, 0x3880, 0x36bf, 0x350f, 0x3397, 0x31b1, 0x3044, 0x2e66, 0x2ccd, 0x2b33, 0x2966, 0x280c, 0x2612, 0x248d, 0x22d4,
  0x211f, 0x1fae, 0x1dc2, 0x1c51, 0x1a7a, 0x18db, 0x1749, 0x1576, 0x1419, 0x1225, 0x109b, 0x0ee9, 0x0d2e, 0x0bc5, 0x09d4, 0x085f,
];

test('the frequency table is the fp16-rounded one of docs/model.md §5.3', () => {
  const theta = rotaryFrequencies(128);
  assert.equal(theta.length, 32);
  assert.deepEqual(Array.from(theta, (t) => numberToFloat16Bits(t)), SPEC_THETA_BITS);
  assert.equal(theta[1], 0.75, 'theta_1 is 0.75 after fp16 rounding, not 0.749894');
});

test('rotary tables: first half from position ids, second half from block positions, rows duplicated over the pair', () => {
  const { cos, sin } = rotaryTables([2000, 5], [3, 0], 128);
  // Token 0, first half, m = 1: angle = fp32(2000 * 0.75) = 1500.
  assert.equal(cos[1], Math.fround(Math.cos(1500)));
  assert.equal(cos[1 + 32], Math.fround(Math.cos(1500)));
  assert.equal(sin[1], Math.fround(Math.sin(1500)));
  // Token 0, second half, m = 2: angle = 3 * 0.5625.
  assert.equal(cos[64 + 2], Math.fround(Math.cos(3 * 0.5625)));
  assert.equal(sin[64 + 2 + 32], Math.fround(Math.sin(3 * 0.5625)));
  // Token 1 (row 128..255): block position 0 gives the identity rotation on the second half.
  assert.equal(cos[128 + 64 + 7], 1);
  assert.equal(sin[128 + 64 + 7], 0);
});

test('the reference rotation pairs m with m + 32 inside each half (rotate-half, not interleaved)', () => {
  const x = new Float64Array(128);
  x[1] = 1; // first half, m = 1
  x[64 + 33] = 1; // second half, m = 1 of its upper block
  const y = rotateHeadReference(x, 7, 3);
  const a = 7 * 0.75;
  const b = 3 * 0.75;
  assert.ok(Math.abs((y[1] as number) - Math.cos(a)) < 1e-12);
  assert.ok(Math.abs((y[33] as number) - Math.sin(a)) < 1e-12);
  assert.ok(Math.abs((y[64 + 1] as number) + Math.sin(b)) < 1e-12);
  assert.ok(Math.abs((y[64 + 33] as number) - Math.cos(b)) < 1e-12);
  assert.equal(y[0], 0);
  assert.equal(y[2], 0);
});
