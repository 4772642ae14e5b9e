import { buildLogitsProcessor } from './build-processors.ts';
import { createSampler, type SampledToken } from './sampler.ts';
import type { SelectionParams } from './sampling-params.ts';
import { topLogprobs } from './top-logprobs.ts';
import type { VocabInfo } from './vocab-info.ts';

/** Where the token being chosen sits in its sequence. */
export interface SelectionContext {
  /** Prompt ids followed by the ids generated so far. */
  readonly tokenIds: readonly number[];
  /** Index of the token being chosen within the completion: 0 for the first generated token. */
  readonly tokenIndex: number;
}

/**
 * Processes one step's logits in place and picks the token: what the last pipeline stage runs per
 * sequence. One selector per sequence (it holds scratch buffers); the result depends only on the
 * logits, the context and the params, never on earlier calls.
 */
export type TokenSelector = (logits: Float32Array, context: SelectionContext) => SampledToken;

export interface TokenSelectorOptions {
  /** Also list this many most likely alternatives per token, 0..MAX_TOP_LOGPROBS. Default 0. */
  readonly topLogprobs?: number;
  /**
   * Whether the chosen token's logprob is wanted. Default true. Without it a greedy choice is the
   * argmax alone, with NaN as its logprob: the softmax's sum over the whole vocabulary (an exp per
   * id, most of a greedy step's sampling time) is skipped. Sampling needs that sum anyway.
   */
  readonly logprob?: boolean;
}

export function createTokenSelector(params: SelectionParams, vocab: VocabInfo, options: TokenSelectorOptions = {}): TokenSelector {
  const process = buildLogitsProcessor(params, vocab);
  const alternatives = options.topLogprobs ?? 0;
  const sample = createSampler(params, { logprob: options.logprob !== false || alternatives > 0 });
  return (logits, context) => {
    process(logits, context);
    const chosen = sample(logits, context.tokenIndex);
    return alternatives > 0 ? { ...chosen, topLogprobs: topLogprobs(logits, alternatives) } : chosen;
  };
}
