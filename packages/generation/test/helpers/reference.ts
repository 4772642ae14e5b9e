/**
 * Literal, sort-everything implementations of HF's warpers, to check the optimised ones against.
 */

/** TopKLogitsWarper: keep scores >= the k-th largest. */
export function referenceTopK(logits: Float32Array, k: number): Float32Array {
  const out = Float32Array.from(logits);
  if (k >= logits.length) return out;
  const kth = [...logits].sort((a, b) => b - a)[k - 1]!;
  for (let i = 0; i < out.length; i++) if (out[i]! < kth) out[i] = -Infinity;
  return out;
}

/**
 * TopPLogitsWarper: stable ascending sort, softmax, cumulative sum, remove cum <= 1 - p, but
 * never the last (largest) one.
 */
export function referenceTopP(logits: Float32Array, p: number): Float32Array {
  const out = Float32Array.from(logits);
  const order = [...logits.keys()].sort((a, b) => logits[a]! - logits[b]! || a - b);
  const max = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  let total = 0;
  for (const x of logits) total += Math.exp(x - max);
  let cumulative = 0;
  order.forEach((id, rank) => {
    cumulative += Math.exp(logits[id]! - max) / total;
    if (cumulative <= 1 - p && rank < order.length - 1) out[id] = -Infinity;
  });
  return out;
}

export function softmax(logits: Float32Array): number[] {
  const max = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  const w = [...logits].map((x) => Math.exp(x - max));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}
