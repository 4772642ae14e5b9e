// Sampling parameters on the wire (Entry.sampling) and back.
import { DEFAULT_SAMPLING, type SamplingParams } from '@chatglm/generation';
import type { Sampling } from '@chatglm/protocol';

export function toWireSampling(p: SamplingParams): Sampling {
  return { doSample: p.doSample, temperature: p.temperature, topP: p.topP, topK: p.topK, repetitionPenalty: p.repetitionPenalty, seed: p.seed.toString() };
}

/** The last stage only selects tokens: length limits and stop strings stay with the head. */
export function fromWireSampling(s: Sampling): SamplingParams {
  return { ...DEFAULT_SAMPLING, doSample: s.doSample, temperature: s.temperature, topP: s.topP, topK: s.topK, repetitionPenalty: s.repetitionPenalty, seed: BigInt(s.seed || '0') };
}
