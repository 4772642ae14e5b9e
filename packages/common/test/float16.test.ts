// Half precision and bfloat16 conversions: rounding against a search over every half value, and
// exhaustive checks over all 65536 bit patterns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bfloat16ToFloat32,
  float16BitsToNumber,
  float16ToFloat32,
  float32BitsToFloat16Bits,
  float32ToFloat16,
  numberToFloat16Bits,
  roundToFloat16,
  seededRandom,
} from '../src/index.ts';

function bitsOf(x: number): number {
  const f = new Float32Array([x]);
  return new Uint32Array(f.buffer)[0] as number;
}

const isHalfNaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

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

test('fp16 rounding ties to even and handles subnormals', () => {
  assert.equal(roundToFloat16(1 + 2 ** -11), 1); // exactly half an ulp above 1: ties to even (1)
  assert.equal(roundToFloat16(1 + 3 * 2 ** -11), 1 + 2 ** -9); // half way between odd and even ulps: up
  assert.equal(roundToFloat16(2 ** -24), 2 ** -24);
  assert.equal(roundToFloat16(65504), 65504);
  assert.equal(roundToFloat16(70000), Infinity);
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
  const halves = float32ToFloat16(data);
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    const want = nearestHalfBits(x);
    assert.equal(float32BitsToFloat16Bits(bitsOf(x)), want, `fp16 bits of ${x}`);
    assert.equal(halves[i], want);
    assert.equal(numberToFloat16Bits(x), want, `numberToFloat16Bits(${x})`);
  }
  assert.equal(float16BitsToNumber(float32BitsToFloat16Bits(bitsOf(65519.99))), 65504);
  assert.equal(float16BitsToNumber(float32BitsToFloat16Bits(bitsOf(65520))), Infinity);
  assert.ok(Number.isNaN(float16BitsToNumber(float32BitsToFloat16Bits(bitsOf(NaN)))));
});

test('fp32 -> fp16 bit conversion rounds to nearest even like the reference', () => {
  const rand = seededRandom(5);
  const values = [0, -0, 1, -2, 0.1, 65504, 65520, 1e-8, 6e-8, 2 ** -24, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity, ...Array.from({ length: 2000 }, () => (rand() * 2 - 1) * 10 ** Math.floor(rand() * 10 - 5))];
  const got = float32ToFloat16(Float32Array.from(values));
  values.forEach((v, i) => assert.equal(got[i], numberToFloat16Bits(Math.fround(v)), `value ${v}`));
  assert.equal(float32ToFloat16(Float32Array.of(NaN))[0]! & 0x7c00, 0x7c00);
});

test('float32ToFloat16 matches numberToFloat16Bits around every half value, and on random fp32 bit patterns', () => {
  // For each half: itself, its fp32 neighbours, the midpoint to the next half (a tie, exact in fp32:
  // 12 significant bits) and that midpoint's fp32 neighbours, on both signs.
  const bits: number[] = [];
  for (let h = 0; h < 0x7c00; h++) {
    const b = bitsOf(HALVES[h] as number);
    bits.push(b, b + 1);
    if (b > 0) bits.push(b - 1);
    if (h < 0x7bff) {
      const mid = bitsOf(((HALVES[h] as number) + (HALVES[h + 1] as number)) / 2);
      bits.push(mid - 1, mid, mid + 1);
    }
  }
  bits.push(bitsOf(65520) - 1, bitsOf(65520), bitsOf(65520) + 1, 0x7f7fffff, 0x7f800000);
  const n = bits.length;
  for (let i = 0; i < n; i++) bits.push((bits[i] as number) | 0x80000000);
  // And a large random sample of all fp32 bit patterns (NaNs included).
  const rand = seededRandom(16);
  for (let i = 0; i < 1_000_000; i++) bits.push(Math.floor(rand() * 2 ** 32) >>> 0);

  const data = new Float32Array(Uint32Array.from(bits).buffer);
  const halves = float32ToFloat16(data);
  for (let i = 0; i < data.length; i++) {
    const x = data[i] as number;
    const got = halves[i] as number;
    if (Number.isNaN(x)) {
      assert.ok(isHalfNaN(got), `NaN ${(bits[i] as number).toString(16)} stays NaN`);
      continue;
    }
    const want = numberToFloat16Bits(x);
    if (got !== want) assert.equal(got, want, `fp32 bits ${(bits[i] as number).toString(16)} (${x})`);
  }
  assert.equal(numberToFloat16Bits(NaN), 0x7e00);
  assert.equal(numberToFloat16Bits(-0), 0x8000);
  assert.equal(numberToFloat16Bits(-Infinity), 0xfc00);
});

test('numberToFloat16Bits rounds the double itself, not its fp32 rounding', () => {
  // Just above the tie between 1 and 1 + 2^-10: fp32 would round it onto the tie, which then goes
  // to the even half (1); the double is nearer 1 + 2^-10.
  const x = 1 + 2 ** -11 + 2 ** -40;
  assert.equal(float32BitsToFloat16Bits(bitsOf(x)), 0x3c00); // the double rounding, for contrast
  assert.equal(numberToFloat16Bits(x), 0x3c01);
  assert.equal(roundToFloat16(x), 1 + 2 ** -10);
  assert.equal(numberToFloat16Bits(-(2 ** -25 + 2 ** -60)), 0x8001); // just past half the smallest subnormal
  assert.equal(numberToFloat16Bits(2 ** -25), 0); // the tie itself: to even (zero)
  // Doubles a hair either side of every 7th tie, where an fp32 detour would land on the tie.
  for (let h = 0; h < 0x7bff; h += 7) {
    const lo = HALVES[h] as number;
    const mid = (lo + (HALVES[h + 1] as number)) / 2;
    for (const x of [mid - lo * 2 ** -30, mid, mid + Math.max(lo, 2 ** -24) * 2 ** -30]) {
      assert.equal(numberToFloat16Bits(x), nearestHalfBits(x), `numberToFloat16Bits(${x})`);
      assert.equal(numberToFloat16Bits(-x), nearestHalfBits(-x), `numberToFloat16Bits(${-x})`);
      assert.equal(roundToFloat16(x), float16BitsToNumber(nearestHalfBits(x)), `roundToFloat16(${x})`);
    }
  }
});

test('float16ToFloat32 widens all 65536 bit patterns exactly, and they narrow back (NaNs stay NaN)', () => {
  const all = new Uint16Array(0x10000);
  for (let h = 0; h < 0x10000; h++) all[h] = h;
  const wide = float16ToFloat32(all);
  const wideBits = new Uint32Array(wide.buffer);
  const back = float32ToFloat16(wide);
  for (let h = 0; h < 0x10000; h++) {
    const v = wide[h] as number;
    if (isHalfNaN(h)) {
      assert.ok(Number.isNaN(v), `NaN ${h.toString(16)} widens to NaN`);
      assert.equal(wideBits[h], (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0, `NaN ${h.toString(16)} keeps sign and payload`);
      assert.ok(isHalfNaN(back[h] as number), `NaN ${h.toString(16)} narrows back to NaN`);
    } else {
      assert.ok(Object.is(v, float16BitsToNumber(h)), `half ${h.toString(16)} widens to ${float16BitsToNumber(h)}, got ${v}`);
      assert.equal(back[h], h, `half ${h.toString(16)} round-trips`);
    }
  }
  // Into a caller's array at an offset, leaving the rest alone.
  const dst = new Float32Array(6).fill(7);
  assert.equal(float16ToFloat32(Uint16Array.of(0x3c00, 0xc000, 0x0001), dst.subarray(2, 5)).byteOffset, 8);
  assert.deepEqual([...dst], [7, 7, 1, -2, 2 ** -24, 7]);
});

test('bfloat16ToFloat32 takes the bits as the top half of an fp32', () => {
  const src = Uint16Array.of(0x3f80, 0xc000, 0x0000, 0x8000, 0x7f80, 0xff80, 0x3e4d, 0x0001);
  const got = bfloat16ToFloat32(src);
  assert.deepEqual([...got.subarray(0, 6)], [1, -2, 0, -0, Infinity, -Infinity]);
  assert.equal(got[6], new Float32Array(new Uint32Array([0x3e4d0000]).buffer)[0]);
  assert.equal(got[7], 2 ** -133); // bf16 keeps fp32's exponent range: subnormals too
  assert.ok(Number.isNaN(bfloat16ToFloat32(Uint16Array.of(0x7fc0))[0]));
});
