// IEEE-754 half precision helpers: the reference rounds its rotary frequency table to fp16
// (spec §5.3), and checkpoints store fp16 / bf16 tensors.

/** Rounds a number to the nearest fp16 value (ties to even), returned as a JS number. */
export function roundToFloat16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity; // beyond max half (65504) after rounding
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  const ulp = 2 ** (Math.max(e, -14) - 10); // below 2^-14 the spacing is that of subnormals
  const q = a / ulp; // exact: dividing by a power of two
  const floor = Math.floor(q);
  const frac = q - floor;
  const r = frac > 0.5 || (frac === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  return Math.sign(x) * r * ulp;
}

/** Decodes one fp16 bit pattern. */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Encodes a number as fp16 bits (round to nearest even). */
export function numberToFloat16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const r = Math.abs(roundToFloat16(x));
  if (r === Infinity) return sign | 0x7c00;
  if (r === 0) return sign;
  if (r < 2 ** -14) return sign | Math.round(r / 2 ** -24);
  const e = Math.floor(Math.log2(r));
  return sign | ((e + 15) << 10) | Math.round((r / 2 ** e - 1) * 1024);
}

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = float16BitsToNumber(h);
  return t;
})();

/** Widens fp16 data to fp32 through a 64 Ki-entry table (fast for multi-gigabyte checkpoints). */
export function float16ToFloat32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = F16_TABLE[src[i] as number] as number;
  return dst;
}

/** Widens bfloat16 data (the top 16 bits of an fp32) to fp32. */
export function bfloat16ToFloat32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = (src[i] as number) << 16;
  return dst;
}

/** Narrows fp32 data to fp16 bits (round to nearest even; overflow to infinity), by bit manipulation. */
export function float32ToFloat16(src: Float32Array, dst = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i] as number;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      dst[i] = sign | 0x7c00 | (mant ? 0x200 : 0); // inf or NaN
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      dst[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        dst[i] = sign; // rounds to zero
        continue;
      }
      mant |= 0x800000; // subnormal: shift the implicit bit in
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      const rest = mant & ((1 << shift) - 1);
      let h = mant >>> shift;
      if (rest > half || (rest === half && h & 1)) h += 1;
      dst[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h += 1; // may carry into the exponent: still right
    dst[i] = sign | h;
  }
  return dst;
}
