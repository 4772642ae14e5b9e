// SamplingParams as plain JSON data, for whatever carries a request between processes (the queue's
// job data, the stage protocol's Sampling message). JSON has no 64-bit integers, so the seed travels
// as a decimal string; this module is the one place that encodes and decodes it.
import { seedToU64 } from './counter-rng.ts';
import { GenerationParamsError } from './errors.ts';
import { resolveSamplingParams, type SamplingParams } from './sampling-params.ts';

/** SamplingParams with the seed as an unsigned decimal string and no undefined fields. */
export interface SamplingParamsJson {
  maxLength: number;
  /** Absent when there is no limit besides maxLength. */
  maxNewTokens?: number;
  topP: number;
  temperature: number;
  topK: number;
  repetitionPenalty: number;
  doSample: boolean;
  /** The seed as the unsigned 64-bit value the sampler uses, in decimal (see seedToU64). */
  seed: string;
  stop: string[];
}

/** The seed as the sampler uses it (unsigned 64-bit), in decimal. */
export function formatSeed(seed: number | bigint): string {
  return seedToU64(seed).toString();
}

/** A decimal seed written by formatSeed; throws GenerationParamsError for anything else. */
export function parseSeed(text: string): bigint {
  if (!/^\d{1,20}$/.test(text)) throw new GenerationParamsError(`seed must be an unsigned decimal integer, got "${text}"`);
  const seed = BigInt(text);
  if (seed >= 1n << 64n) throw new GenerationParamsError(`seed ${text} does not fit in 64 bits`);
  return seed;
}

export function samplingParamsToJson(p: SamplingParams): SamplingParamsJson {
  return {
    maxLength: p.maxLength,
    ...(p.maxNewTokens !== undefined && { maxNewTokens: p.maxNewTokens }),
    topP: p.topP,
    temperature: p.temperature,
    topK: p.topK,
    repetitionPenalty: p.repetitionPenalty,
    doSample: p.doSample,
    seed: formatSeed(p.seed),
    stop: [...p.stop],
  };
}

/** The params back, checked again (the JSON crossed a process boundary). */
export function samplingParamsFromJson(j: SamplingParamsJson): SamplingParams {
  return resolveSamplingParams({ ...j, seed: parseSeed(j.seed) });
}
