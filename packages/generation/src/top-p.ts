import type { LogitsProcessor } from './logits-processor.ts';
import { Support } from './support.ts';

/** Width, in logit units below the maximum, of one bucket of the mass histogram. */
const BUCKET_WIDTH = 0.25;
/** Buckets cover [max - 64, max]; anything lower weighs < e^-64 of the top token each. */
const BUCKETS = 256;

/**
 * HF's TopPLogitsWarper: sort ascending, softmax, cumulative sum; set to -Infinity every token whose
 * cumulative probability is <= 1 - p, always keeping the most likely one. p >= 1 disables it.
 *
 * Equivalent form used here: walking tokens from most to least likely, a token is kept iff the
 * mass strictly before it is < p (cumulative-from-below = 1 - mass-before). Ties are ordered as a
 * stable ascending sort orders them (torch.sort(stable=True)): among equal logits the higher id
 * counts as more likely, so at the cut the higher ids survive.
 *
 * Only tokens that can be kept get sorted. After top-k those are the few ids left with
 * probability. Otherwise a histogram of probability mass by distance below the maximum finds the
 * bucket where the mass reaches p, and only tokens down to one bucket beyond it (margin for
 * rounding) are sorted; if rounding still leaves them short of p, the cut is retried with every
 * token, so the result never depends on the shortcut. Arithmetic is float64; against torch's
 * float32 results can differ only where the cumulative mass equals 1 - p to within rounding.
 * Expects no NaN (invalidScoreFix runs first).
 */
export function topP(p: number): LogitsProcessor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`topP: p must be in [0, 1], got ${p}`);
  if (p === 1) return () => {};
  const support = new Support();
  const histogram = new Float64Array(BUCKETS + 1);
  let candidates: Int32Array = new Int32Array(256);

  /** Sorts ids most likely first, walks the mass, -Infinity to the ones cut; false if short of p. */
  const cut = (logits: Float32Array, ids: Int32Array, max: number, total: number, last: boolean): boolean => {
    ids.sort((a, b) => logits[b]! - logits[a]! || b - a);
    let kept = 1;
    let before = Math.exp(logits[ids[0]!]! - max) / total;
    while (kept < ids.length && before < p) {
      before += Math.exp(logits[ids[kept]!]! - max) / total;
      kept++;
    }
    if (kept === ids.length && before < p && !last) return false;
    for (let j = kept; j < ids.length; j++) logits[ids[j]!] = -Infinity;
    return true;
  };

  return (logits) => {
    const { max } = support.scan(logits);
    if (!Number.isFinite(max)) return;
    if (support.complete) {
      const ids = support.ids.subarray(0, support.count);
      let total = 0;
      for (const id of ids) total += Math.exp(logits[id]! - max);
      cut(logits, ids, max, total, true);
      return;
    }

    histogram.fill(0);
    let total = 0;
    for (let i = 0; i < logits.length; i++) {
      const x = logits[i]!;
      if (!(x > -Infinity)) continue;
      const w = Math.exp(x - max);
      total += w;
      histogram[Math.min(BUCKETS, Math.floor((max - x) / BUCKET_WIDTH))]! += w;
    }
    let floor = -Infinity;
    let mass = 0;
    for (let b = 0; b < BUCKETS; b++) {
      mass += histogram[b]!;
      if (mass >= p * total) {
        floor = max - (b + 2) * BUCKET_WIDTH;
        break;
      }
    }

    for (;;) {
      let count = 0;
      for (let i = 0; i < logits.length; i++) {
        const x = logits[i]!;
        if (x >= floor && x > -Infinity) {
          if (count === candidates.length) candidates = grow(candidates);
          candidates[count++] = i;
        }
      }
      const everything = floor === -Infinity;
      if (!cut(logits, candidates.subarray(0, count), max, total, everything)) {
        floor = -Infinity;
        continue;
      }
      // Below the candidates nothing is kept: the cut lies within them.
      if (!everything) for (let i = 0; i < logits.length; i++) if (logits[i]! < floor) logits[i] = -Infinity;
      return;
    }
  };
}

function grow(a: Int32Array): Int32Array {
  const bigger = new Int32Array(a.length * 2);
  bigger.set(a);
  return bigger;
}
