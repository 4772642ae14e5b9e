/**
 * Counter-based randomness for sampling (docs/architecture.md, "The path of a request", step 5): the uniform number used for the token at
 * index i of a request is a pure function of (seed, i). No generator state lives in a process, so a
 * request resumed on another machine after a crash draws exactly the numbers the first attempt drew.
 *
 * The function is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014; the generator behind java.util.SplittableRandom), whose state after n
 * steps is simply seed + n·γ, so its n-th output can be computed directly:
 *
 *   key      = mix64(seed + γ)              the first SplitMix64 output for `seed`
 *   draw(i)  = mix64(key + (i + 1)·γ)       the i-th output of SplitMix64 seeded with `key`
 *   uniform  = (draw(i) >> 11) · 2^-53      a double in [0, 1) with 53 random bits
 *
 * with γ = 0x9E3779B97F4A7C15 and mix64 the MurmurHash3-style finalizer (variant 13), all mod 2^64.
 * Deriving `key` through mix64 keeps the streams of nearby seeds (0, 1, 2, ...) unrelated; the raw
 * stream of seed s+γ would otherwise be the stream of s shifted by one.
 */

const MASK64 = (1n << 64n) - 1n;
const GAMMA = 0x9e3779b97f4a7c15n;
const TWO_POW_MINUS_53 = 2 ** -53;

/** The SplitMix64 finalizer: a bijection on 64-bit integers with strong avalanche. */
export function mix64(value: bigint): bigint {
  let z = value & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** The output number `index` (0-based) of a SplitMix64 generator started at `state`. */
export function splitMix64At(state: bigint, index: number): bigint {
  return mix64(state + BigInt(index + 1) * GAMMA);
}

/** A seed as an unsigned 64-bit integer (two's complement for negatives). */
export function seedToU64(seed: number | bigint): bigint {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be a safe integer or a bigint, got ${seed}`);
  }
  return BigInt(seed) & MASK64;
}

/** The uniform double in [0, 1) for the token at `tokenIndex` of a request seeded with `seed`. */
export function uniformAt(seed: number | bigint, tokenIndex: number): number {
  if (!Number.isSafeInteger(tokenIndex) || tokenIndex < 0) {
    throw new RangeError(`tokenIndex must be a non-negative integer, got ${tokenIndex}`);
  }
  const key = splitMix64At(seedToU64(seed), 0);
  return Number(splitMix64At(key, tokenIndex) >> 11n) * TWO_POW_MINUS_53;
}
