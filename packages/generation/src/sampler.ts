import { uniformAt } from './counter-rng.ts';
import { isGreedy, type SelectionParams } from './sampling-params.ts';
import { Support } from './support.ts';
import type { TokenLogprob } from './top-logprobs.ts';

/** A chosen token and its log-probability under the final processed distribution. */
export interface SampledToken {
  readonly tokenId: number;
  /** log softmax of the processed logits at tokenId (natural log; 0 for a certain token). */
  readonly logprob: number;
  /** The most likely tokens of the same distribution, when asked for (see topLogprobs). */
  readonly topLogprobs?: readonly TokenLogprob[];
}

/** Picks the next token from fully processed logits; `tokenIndex` is its index in the completion. */
export type Sampler = (logits: Float32Array, tokenIndex: number) => SampledToken;

/**
 * Argmax; the lowest id wins ties. The logprob needs Σ exp over all ids with probability; with
 * `logprob` false it is not computed (NaN), and the argmax is one pass.
 */
export function greedySampler(options: { logprob?: boolean } = {}): Sampler {
  if (options.logprob === false) return argmaxOnly;
  const weights = new Weights();
  return (logits) => {
    const w = weights.compute(logits, 'greedySampler');
    let best = 0;
    while (logits[w.ids[best]!] !== w.max) best++;
    return { tokenId: w.ids[best]!, logprob: -Math.log(w.total) };
  };
}

/**
 * A multinomial draw from softmax(logits) by inverting the cumulative distribution in id order at
 * u = uniformAt(seed, tokenIndex). The walk re-adds the very weights the total was summed from, in
 * the same order, so it always ends inside the distribution; should u·Z round up to Z the last
 * token with mass is taken.
 */
export function multinomialSampler(seed: number | bigint): Sampler {
  const weights = new Weights();
  return (logits, tokenIndex) => {
    const w = weights.compute(logits, 'multinomialSampler');
    const target = uniformAt(seed, tokenIndex) * w.total;
    let acc = 0;
    let j = 0;
    for (; j < w.count - 1; j++) {
      acc += w.weight[j]!;
      if (acc > target) break;
    }
    const tokenId = w.ids[j]!;
    return { tokenId, logprob: logits[tokenId]! - w.max - Math.log(w.total) };
  };
}

/** Greedy or seeded multinomial sampling, as `params` asks (see isGreedy); `logprob: false` lets greedy skip the logprob (NaN). */
export function createSampler(params: SelectionParams, options: { logprob?: boolean } = {}): Sampler {
  return isGreedy(params) ? greedySampler(options) : multinomialSampler(params.seed);
}

/** greedySampler's choice without its logprob: the first id of the largest logit. */
function argmaxOnly(logits: Float32Array): SampledToken {
  let best = -1;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x > max) {
      max = x;
      best = i;
    }
  }
  if (best < 0 || !Number.isFinite(max)) throw new RangeError(`greedySampler: the largest logit is ${max}; run invalidScoreFix first`);
  return { tokenId: best, logprob: Number.NaN };
}

/**
 * exp(x - max) of every id with a logit > -Infinity, in id order, and their sum: computed once
 * and read by both the total and the walk. Scratch is reused across calls.
 */
class Weights {
  private readonly support = new Support();
  private everyId: Int32Array = new Int32Array(0);
  /** The ids with probability, increasing; `weight[j]` belongs to `ids[j]`. */
  ids: Int32Array = new Int32Array(0);
  weight: Float64Array = new Float64Array(0);
  count = 0;
  total = 0;
  max = -Infinity;

  compute(logits: Float32Array, who: string): this {
    const support = this.support.scan(logits);
    if (!Number.isFinite(support.max)) {
      throw new RangeError(`${who}: the largest logit is ${support.max}; run invalidScoreFix first`);
    }
    this.max = support.max;
    this.count = support.count;
    this.ids = support.ids;
    if (!support.complete) {
      if (this.everyId.length < logits.length) this.everyId = new Int32Array(logits.length);
      let n = 0;
      for (let i = 0; i < logits.length; i++) if (logits[i]! > -Infinity) this.everyId[n++] = i;
      this.ids = this.everyId;
    }
    if (this.weight.length < this.count) this.weight = new Float64Array(logits.length);
    let total = 0;
    for (let j = 0; j < this.count; j++) {
      const w = Math.exp(logits[this.ids[j]!]! - this.max);
      this.weight[j] = w;
      total += w;
    }
    this.total = total;
    return this;
  }
}
