// What the last stage remembers per sequence to choose its tokens: how to select them and every
// token id so far (the repetition penalty looks at the prompt and the generated ids).
import { ChatGlmError } from '@chatglm/common';
import { createTokenSelector, type SampledToken, type TokenSelector, type VocabInfo } from '@chatglm/generation';
import type { WireSelection } from './wire-sampling.ts';

interface SequenceState {
  select: TokenSelector;
  tokenIds: number[];
}

export class SequenceSampler {
  private readonly sequences = new Map<string, SequenceState>();

  constructor(private readonly vocab: VocabInfo) {}

  /** A sequence was prefilled with `tokenIds`; choose its next token from the prefill's logits. */
  startAndSample(seqId: string, tokenIds: readonly number[], selection: WireSelection, logits: Float32Array, sampleIndex: number): SampledToken {
    const state = { select: createTokenSelector(selection.params, this.vocab, { topLogprobs: selection.topLogprobs, logprob: selection.logprob }), tokenIds: [...tokenIds] };
    this.sequences.set(seqId, state);
    return state.select(logits, { tokenIds: state.tokenIds, tokenIndex: sampleIndex });
  }

  /** `tokenId` was fed to the model; choose the next token from the step's logits. */
  appendAndSample(seqId: string, tokenId: number, logits: Float32Array, sampleIndex: number): SampledToken {
    const state = this.sequences.get(seqId);
    if (!state) throw new ChatGlmError('unknown_sequence', `sequence ${seqId} was never prefilled on the last stage`);
    state.tokenIds.push(tokenId);
    return state.select(logits, { tokenIds: state.tokenIds, tokenIndex: sampleIndex });
  }

  release(seqId: string): void {
    this.sequences.delete(seqId);
  }
}
