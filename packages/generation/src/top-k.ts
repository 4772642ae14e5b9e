import { KthLargest } from './kth-largest.ts';
import type { LogitsProcessor } from './logits-processor.ts';

/**
 * HF's TopKLogitsWarper: keep every logit >= the k-th largest (so ties at the k-th value all
 * survive), set the rest to -Infinity. k = 0 disables the warper; k >= the number of logits keeps
 * everything. Runs in O(V) without sorting (see KthLargest).
 */
export function topK(k: number): LogitsProcessor {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`topK: k must be an integer >= 0, got ${k}`);
  if (k === 0) return () => {};
  const kth = new KthLargest();
  return (logits) => {
    if (k >= logits.length) return;
    const threshold = kth.find(logits, k);
    if (threshold === -Infinity) return;
    for (let i = 0; i < logits.length; i++) {
      if (logits[i]! < threshold) logits[i] = -Infinity;
    }
  };
}
