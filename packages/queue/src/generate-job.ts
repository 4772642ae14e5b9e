// What a gateway puts on the queue and a pipeline head takes off it.
import type { SamplingParams } from '@chatglm/generation';

/** SamplingParams as JSON: the 64-bit seed travels as a decimal string. */
export type WireSamplingParams = Omit<SamplingParams, 'seed' | 'stop'> & { seed: string; stop: string[] };

export interface GenerateJobData {
  /** Also the BullMQ job id, so one request is one job. */
  requestId: string;
  /** The rendered, tokenized prompt, ending with [gMASK] <sop>. */
  promptIds: number[];
  params: WireSamplingParams;
  /** Epoch ms when the gateway accepted the request. */
  acceptedAt: number;
}

/** The job's return value: the final state of the request. */
export interface GenerateJobResult {
  text: string;
  finishReason: string;
  promptTokens: number;
  completionTokens: number;
}

export function toWireParams(p: SamplingParams): WireSamplingParams {
  return { ...p, seed: p.seed.toString(), stop: [...p.stop] };
}

export function fromWireParams(p: WireSamplingParams): SamplingParams {
  return { ...p, seed: BigInt(p.seed), stop: p.stop };
}
