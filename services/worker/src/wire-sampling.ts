// Token-selection parameters on the wire (Entry.sampling): what the head sends with a prefill and
// the last stage keeps for the sequence. Length limits and stop strings stay with the head; the
// seed crosses as the decimal text @chatglm/generation's one seed codec writes.
import { formatSeed, parseSeed, type SelectionParams } from '@chatglm/generation';
import type { Sampling } from '@chatglm/protocol';

/** What the last stage needs to choose a sequence's tokens, and what to report with each. */
export interface WireSelection {
  params: SelectionParams;
  /** Alternatives to report per token (0: none). */
  topLogprobs: number;
  /** Whether each token's logprob is wanted (the client asked for logprobs); without, a greedy choice skips its softmax. */
  logprob: boolean;
}

export function toWireSampling({ params: p, topLogprobs, logprob }: WireSelection): Sampling {
  return { doSample: p.doSample, temperature: p.temperature, topP: p.topP, topK: p.topK, repetitionPenalty: p.repetitionPenalty, seed: formatSeed(p.seed), topLogprobs, omitLogprob: !logprob };
}

export function fromWireSampling(s: Sampling): WireSelection {
  return {
    params: { doSample: s.doSample, temperature: s.temperature, topP: s.topP, topK: s.topK, repetitionPenalty: s.repetitionPenalty, seed: parseSeed(s.seed || '0') },
    topLogprobs: s.topLogprobs ?? 0,
    logprob: !s.omitLogprob,
  };
}
