import { buildLogitsProcessor } from './build-processors.ts';
import { createSampler, type SampledToken } from './sampler.ts';
import type { SamplingParams } from './sampling-params.ts';
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

export function createTokenSelector(params: SamplingParams, vocab: VocabInfo): TokenSelector {
  const process = buildLogitsProcessor(params, vocab);
  const sample = createSampler(params);
  return (logits, context) => {
    process(logits, context);
    return sample(logits, context.tokenIndex);
  };
}
