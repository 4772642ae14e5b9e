// What a gateway puts on the queue and a pipeline head takes off it.
import type { SamplingParamsJson } from '@chatglm/generation';

export interface GenerateJobData {
  /** Also the BullMQ job id, so one request is one job. */
  requestId: string;
  /** The rendered, tokenized prompt, ending with [gMASK] <sop>. */
  promptIds: number[];
  /** The resolved sampling parameters (a seed is always set, so a retry samples the same tokens). */
  params: SamplingParamsJson;
  /** Epoch ms when the gateway accepted the request. */
  acceptedAt: number;
  /**
   * Set when the client asked for log-probabilities: how many most likely alternatives to report
   * with each generated token (0..20). The head then streams each token's logprob with the text.
   */
  logprobs?: number;
}
