import type { LogitsProcessor } from './logits-processor.ts';

/** The logit ChatGLM's InvalidScoreLogitsProcessor gives the forced token. */
export const INVALID_SCORE_FORCED_LOGIT = 50000;

/**
 * ChatGLM's InvalidScoreLogitsProcessor (docs/model.md §7.1): if any logit is NaN or ±Infinity, set every
 * logit to 0 and the forced token's to 50000, so that a numerically broken step emits one harmless
 * token instead of crashing the sampler. The caller passes the tokenizer's `▁` id as `forcedId`.
 *
 * Only ids below `checkedSize` are inspected and reset: ids beyond the tokenizer's vocabulary have
 * been set to -Infinity on purpose by maskBeyondVocab, which must neither trigger the fix nor be
 * undone by it. Default: the whole array.
 */
export function invalidScoreFix(forcedId: number, checkedSize = Number.POSITIVE_INFINITY): LogitsProcessor {
  if (!Number.isSafeInteger(forcedId) || forcedId < 0 || forcedId >= checkedSize) {
    throw new RangeError(`invalidScoreFix: forcedId ${forcedId} is not below checkedSize ${checkedSize}`);
  }
  return (logits) => {
    const end = Math.min(checkedSize, logits.length);
    if (forcedId >= end) throw new RangeError(`invalidScoreFix: forcedId ${forcedId} >= logits length ${end}`);
    for (let i = 0; i < end; i++) {
      // x - x is 0 for finite x and NaN for NaN and ±Infinity: one test covers all three.
      const x = logits[i]!;
      if (x - x !== 0) {
        logits.fill(0, 0, end);
        logits[forcedId] = INVALID_SCORE_FORCED_LOGIT;
        return;
      }
    }
  };
}
