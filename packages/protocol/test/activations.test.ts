import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError, decodeActivations, encodeActivations, float16BitsToNumber, float32BitsToFloat16Bits } from '../src/index.ts';

const F32 = 'ACTIVATION_DTYPE_FLOAT32';
const F16 = 'ACTIVATION_DTYPE_FLOAT16';

function bitsOf(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0] as number;
}

// Every finite non-negative half value, ascending (bit patterns 0x0000..0x7bff are ordered).
const HALVES = Array.from({ length: 0x7c00 }, (_, h) => float16BitsToNumber(h));

/** Reference rounding by search: the nearest half, ties to the even bit pattern. */
function nearestHalfBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((HALVES[mid] as number) <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - (HALVES[lo] as number);
  const dHi = (HALVES[hi] as number) - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

test('float32 activations round-trip exactly, including special values', () => {
  const data = new Float32Array(4099);
  for (let i = 0; i < data.length; i++) data[i] = (Math.sin(i * 12.9898) * 43758.5453) % 1000;
  data.set([0, -0, Infinity, -Infinity, NaN, 1e-45, -3.4028234663852886e38, 65504], 0);
  const bytes = encodeActivations(data, F32);
  assert.equal(bytes.length, data.length * 4);
  assert.equal(bytes.readFloatLE(4 * 10), data[10]); // little-endian on the wire
  const back = decodeActivations(bytes, F32, data.length);
  assert.deepEqual(new Uint32Array(back.buffer, back.byteOffset, back.length), new Uint32Array(data.buffer));
});

test('float32 decode is zero-copy when aligned and copies when not', () => {
  const data = Float32Array.from([1.5, -2.25, 3]);
  const aligned = Buffer.alloc(16);
  aligned.set(encodeActivations(data, F32), 4);
  const view = decodeActivations(aligned.subarray(4), F32, 3);
  assert.equal(view.buffer, aligned.buffer, 'aligned input should be viewed, not copied');
  assert.deepEqual([...view], [1.5, -2.25, 3]);

  const unaligned = Buffer.alloc(16);
  unaligned.set(encodeActivations(data, F32), 1);
  const copy = decodeActivations(unaligned.subarray(1, 13), F32, 3);
  assert.notEqual(copy.buffer, unaligned.buffer);
  assert.deepEqual([...copy], [1.5, -2.25, 3]);
});

test('float16 is exact on every representable half value', () => {
  const values = new Float32Array(0x10000);
  for (let h = 0; h < 0x10000; h++) values[h] = float16BitsToNumber(h);
  const bytes = encodeActivations(values, F16);
  assert.equal(bytes.length, 0x10000 * 2);
  for (let h = 0; h < 0x10000; h++) {
    const got = bytes.readUInt16LE(h * 2);
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) assert.ok((got & 0x7c00) === 0x7c00 && (got & 0x3ff) !== 0, `NaN ${h.toString(16)} stays NaN`);
    else assert.equal(got, h, `half ${h.toString(16)} (${values[h]}) encodes to itself`);
  }
  const back = decodeActivations(bytes, F16, 0x10000);
  for (let h = 0; h < 0x10000; h++) assert.ok(Object.is(back[h], values[h]) || (Number.isNaN(back[h]) && Number.isNaN(values[h])));
});

test('float16 rounds to nearest, ties to even, matching a search over all halves', () => {
  // Random magnitudes over the whole half range, subnormals included.
  let seed = 12345;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const xs: number[] = [];
  for (let i = 0; i < 20_000; i++) xs.push((rand() < 0.5 ? -1 : 1) * 2 ** (rand() * 42 - 26));
  // Exact midpoints between neighbouring halves (representable in fp32): the ties.
  for (let h = 0; h < 0x7bff; h += 37) xs.push(((HALVES[h] as number) + (HALVES[h + 1] as number)) / 2);
  xs.push(65519.99, 65520, 1e9, 2 ** -25, 2 ** -25 * 1.0000001, 2 ** -26, 2 ** -14 - 2 ** -26);
  const data = Float32Array.from(xs);
  const bytes = encodeActivations(data, F16);
  const decoded = decodeActivations(bytes, F16, data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    const want = nearestHalfBits(x);
    assert.equal(float32BitsToFloat16Bits(bitsOf(x)), want, `fp16 bits of ${x}`);
    assert.equal(bytes.readUInt16LE(i * 2), want);
    const err = Math.abs((decoded[i] as number) - x);
    if (Number.isFinite(decoded[i] as number)) assert.ok(err <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25), `error ${err} for ${x}`);
  }
  assert.equal(float16BitsToNumber(float32BitsToFloat16Bits(bitsOf(65519.99))), 65504);
  assert.equal(float16BitsToNumber(float32BitsToFloat16Bits(bitsOf(65520))), Infinity);
  assert.ok(Number.isNaN(float16BitsToNumber(float32BitsToFloat16Bits(bitsOf(NaN)))));
});

test('float16 decodes at an odd byte offset', () => {
  const bytes = encodeActivations(Float32Array.from([1, -2, 0.5]), F16);
  const shifted = Buffer.alloc(7);
  bytes.copy(shifted, 1);
  assert.deepEqual([...decodeActivations(shifted.subarray(1), F16, 3)], [1, -2, 0.5]);
});

test('wrong byte lengths and dtypes give clear errors', () => {
  const four = encodeActivations(Float32Array.from([1, 2, 3, 4]), F32);
  assert.throws(
    () => decodeActivations(four, F32, 8),
    (e: unknown) => e instanceof ProtocolError && e.code === 'invalid_activations' && /16 bytes but 8 float32 values need 32/.test(e.message) && /sent 4 values/.test(e.message),
  );
  assert.throws(() => decodeActivations(four.subarray(0, 7), F16, 4), /7 bytes but 4 float16 values need 8/);
  assert.throws(() => decodeActivations(four, F32, -1), /non-negative integer/);
  assert.throws(() => encodeActivations(Float32Array.from([1]), 'ACTIVATION_DTYPE_UNSPECIFIED'), (e: unknown) => e instanceof ProtocolError && e.code === 'invalid_dtype');
  assert.throws(() => decodeActivations(four, 'ACTIVATION_DTYPE_UNSPECIFIED', 4), /must announce ACTIVATION_DTYPE_FLOAT32 or ACTIVATION_DTYPE_FLOAT16/);
  assert.equal(decodeActivations(Buffer.alloc(0), F16, 0).length, 0);
});
