/** Largest logit, ignoring NaN; -Infinity when there is none. */
export function maxLogit(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  return max;
}

/** Σ exp(x - max) over the finite-or-+Inf logits, summed in index order (float64). */
export function sumExp(logits: Float32Array, max: number): number {
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x !== -Infinity) total += Math.exp(x - max);
  }
  return total;
}

/** log softmax(logits)[id], in float64. */
export function logSoftmaxAt(logits: Float32Array, id: number): number {
  const max = maxLogit(logits);
  return logits[id]! - max - Math.log(sumExp(logits, max));
}
