import type { LogitsProcessor } from './logits-processor.ts';

/**
 * Divides every logit by `temperature` (> 0); 1 is a no-op. Temperature 0 is not a warper: it
 * selects greedy decoding (see isGreedy), so it is rejected here.
 */
export function temperature(value: number): LogitsProcessor {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`temperature: must be a finite number > 0, got ${value}`);
  }
  if (value === 1) return () => {};
  return (logits) => {
    for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! / value;
  };
}
