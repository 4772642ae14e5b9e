import assert from 'node:assert/strict';
import { test } from 'node:test';
import { float16BitsToNumber, float32ToFloat16 } from '@chatglm/common';
import { ProtocolError, decodeActivations, encodeActivations } from '../src/index.ts';

const F32 = 'ACTIVATION_DTYPE_FLOAT32';
const F16 = 'ACTIVATION_DTYPE_FLOAT16';

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

test('float16 carries the nearest half (ties to even) of each value, little-endian', () => {
  // The rounding itself is checked against a search over all halves in @chatglm/common's tests;
  // here: the wire holds exactly those bits, and decoding is within half an ulp of the input.
  let seed = 12345;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const xs: number[] = [];
  for (let i = 0; i < 20_000; i++) xs.push((rand() < 0.5 ? -1 : 1) * 2 ** (rand() * 42 - 26));
  xs.push(65519.99, 65520, 1e9, 2 ** -25, 2 ** -25 * 1.0000001, 2 ** -26, 2 ** -14 - 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11);
  const data = Float32Array.from(xs);
  const want = float32ToFloat16(data);
  const bytes = encodeActivations(data, F16);
  const decoded = decodeActivations(bytes, F16, data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    assert.equal(bytes.readUInt16LE(i * 2), want[i], `fp16 bits of ${x}`);
    const err = Math.abs((decoded[i] as number) - x);
    if (Number.isFinite(decoded[i] as number)) assert.ok(err <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25), `error ${err} for ${x}`);
  }
  const n = data.length;
  assert.equal(decoded[n - 9], 65504);
  assert.equal(decoded[n - 8], Infinity);
  assert.equal(decoded[n - 2], 1); // tie: to even
  assert.equal(decoded[n - 1], 1 + 2 ** -9); // tie: to even, upwards
  assert.ok(Number.isNaN(decodeActivations(encodeActivations(Float32Array.of(NaN), F16), F16, 1)[0]));
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
