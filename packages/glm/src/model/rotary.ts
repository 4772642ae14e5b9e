// 2-D rotary position tables (docs/model.md §5.2 step 4 and §5.3).
//
// Each head of size D is split into two halves: the first is rotated by the token's position id p,
// the second by its block position id q. Inside a half, element m pairs with m + D/4 ("rotate-half",
// GPT-NeoX style) at frequency theta_m. The graph computes `x * cos + rotateHalves(x) * sin`; this
// file builds the per-token cos/sin rows it multiplies by.
import { roundToFloat16 } from '@chatglm/common';

const ROTARY_BASE = 10000;

/**
 * The frequency table exactly as the reference builds it: 1 / base^(2m / (D/2)) evaluated in fp32,
 * then stored as an fp16 buffer (so theta_1 = 0.75, not 0.7499). `headDim` = D.
 */
export function rotaryFrequencies(headDim: number): Float64Array {
  const half = headDim / 2; // the reference's `dim`: rotary width of one half
  const out = new Float64Array(half / 2);
  for (let m = 0; m < out.length; m++) {
    const exponent = Math.fround(Math.fround(2 * m) / half);
    const power = Math.fround(ROTARY_BASE ** exponent);
    out[m] = roundToFloat16(Math.fround(1 / power));
  }
  return out;
}

export interface RotaryTables {
  /** [tokens, headDim] cos rows; first half from position ids, second half from block positions. */
  cos: Float32Array;
  sin: Float32Array;
}

/**
 * cos/sin rows for each token, with fp32 angles and fp32 cos/sin of the fp16-rounded frequencies:
 * this matches the reference run in fp32 (docs/model.md §5.3's recommendation).
 */
export function rotaryTables(positions: ArrayLike<number>, blockPositions: ArrayLike<number>, headDim: number): RotaryTables {
  const n = positions.length;
  if (blockPositions.length !== n) throw new Error(`rotaryTables: ${n} positions but ${blockPositions.length} block positions`);
  const theta = rotaryFrequencies(headDim);
  const quarter = theta.length;
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  for (let j = 0; j < n; j++) {
    const row = j * headDim;
    for (let half = 0; half < 2; half++) {
      const t = half === 0 ? (positions[j] as number) : (blockPositions[j] as number);
      const base = row + half * 2 * quarter;
      for (let m = 0; m < quarter; m++) {
        const angle = Math.fround(t * (theta[m] as number));
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        cos[base + m] = c;
        cos[base + m + quarter] = c;
        sin[base + m] = s;
        sin[base + m + quarter] = s;
      }
    }
  }
  return { cos, sin };
}

/**
 * Reference rotation of one head vector in plain JS (for tests and documentation): applies the
 * formulas of docs/model.md §5.3: u'[m] = u[m]cos - u[m+D/4]sin, u'[m+D/4] = u[m+D/4]cos + u[m]sin per half.
 */
export function rotateHeadReference(x: ArrayLike<number>, p: number, q: number): Float64Array {
  const headDim = x.length;
  const theta = rotaryFrequencies(headDim);
  const quarter = theta.length;
  const out = new Float64Array(headDim);
  for (let half = 0; half < 2; half++) {
    const t = half === 0 ? p : q;
    const base = half * 2 * quarter;
    for (let m = 0; m < quarter; m++) {
      const angle = Math.fround(t * (theta[m] as number));
      const a = x[base + m] as number;
      const b = x[base + m + quarter] as number;
      out[base + m] = a * Math.cos(angle) - b * Math.sin(angle);
      out[base + m + quarter] = b * Math.cos(angle) + a * Math.sin(angle);
    }
  }
  return out;
}
