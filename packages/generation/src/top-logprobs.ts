import { maxLogit, sumExp } from './softmax.ts';

/** One candidate token and its log-probability. */
export interface TokenLogprob {
  readonly tokenId: number;
  readonly logprob: number;
}

/** OpenAI's limit on `top_logprobs`, and so the most alternatives a stage computes per token. */
export const MAX_TOP_LOGPROBS = 20;

/**
 * The `count` most likely tokens of fully processed logits, most likely first (ties: lower id
 * first), with their log-probabilities under the same normalisation the sampler reports. Tokens
 * the processors ruled out (-Infinity) are never listed, so fewer than `count` may come back.
 * One pass over the vocabulary; the short list is kept sorted by insertion (count <= 20).
 */
export function topLogprobs(logits: Float32Array, count: number): TokenLogprob[] {
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_TOP_LOGPROBS) {
    throw new RangeError(`topLogprobs: count must be an integer in [0, ${MAX_TOP_LOGPROBS}], got ${count}`);
  }
  if (count === 0) return [];
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x === -Infinity || (ids.length === count && x <= logits[ids[count - 1]!]!)) continue;
    let at = ids.length === count ? count - 1 : ids.length;
    while (at > 0 && logits[ids[at - 1]!]! < x) at--;
    ids.splice(at, 0, i);
    if (ids.length > count) ids.pop();
  }
  const max = maxLogit(logits);
  const logTotal = Math.log(sumExp(logits, max));
  return ids.map((tokenId) => ({ tokenId, logprob: logits[tokenId]! - max - logTotal }));
}
