import type { LogitsProcessor } from './logits-processor.ts';

/**
 * HF's RepetitionPenaltyLogitsProcessor: for every distinct id in the sequence so far (prompt
 * included), divide a positive logit by `penalty` and multiply a non-positive one by it, so that a
 * penalty > 1 always makes the token less likely. Like HF it gathers every original value before
 * writing any, so an id that occurs several times is penalised exactly once.
 */
export function repetitionPenalty(penalty: number): LogitsProcessor {
  if (!(penalty > 0) || !Number.isFinite(penalty)) {
    throw new RangeError(`repetitionPenalty: penalty must be a finite number > 0, got ${penalty}`);
  }
  if (penalty === 1) return () => {};
  let gathered = new Float32Array(64);
  return (logits, { tokenIds }) => {
    if (gathered.length < tokenIds.length) gathered = new Float32Array(tokenIds.length * 2);
    for (let i = 0; i < tokenIds.length; i++) gathered[i] = logits[tokenIds[i]!] ?? NaN;
    for (let i = 0; i < tokenIds.length; i++) {
      const id = tokenIds[i]!;
      if (id < 0 || id >= logits.length) continue;
      const score = gathered[i]!;
      logits[id] = score < 0 ? score * penalty : score / penalty;
    }
  };
}
