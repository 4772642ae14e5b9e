// The last stage's token choice for one sequence over ChatGLM-6B's 130528 logits, as a decode step
// pays it per sequence: the processors of docs/model.md §7.1 and the sampler, on logits drawn like a
// model's (normal, spread 3), a fresh copy each call since the processors work in place.
import { createTokenSelector, resolveSamplingParams, type SamplingParams, type TokenSelectorOptions } from '@chatglm/generation';
import { seededRandom } from '@chatglm/common';
import { median } from './decode-timing.ts';

/** ChatGLM-6B's logits per position, and the facts of its tokenizer the processors read. */
const LOGITS = 130528;
const VOCAB = { vocabSize: 130344, eopId: 130005, forcedTokenId: 5 };

/** The median ms of `calls` token choices with `params` (over DEFAULT_SAMPLING) and `options`. */
export function tokenChoiceMs(params: Partial<SamplingParams>, options: TokenSelectorOptions, calls = 60): number {
  const random = seededRandom(17);
  const logits = Float32Array.from({ length: LOGITS }, () => 3 * Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random()));
  const select = createTokenSelector(resolveSamplingParams({ seed: 1, ...params }), VOCAB, options);
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const copy = logits.slice();
    const t0 = performance.now();
    select(copy, { tokenIds: [1, 2, 3], tokenIndex: i });
    times.push(performance.now() - t0);
  }
  return median(times.slice(5));
}
