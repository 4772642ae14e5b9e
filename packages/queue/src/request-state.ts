// The state of one request as stored in Redis, and the events of its stream.
import type { ErrorCode } from '@chatglm/common';
import type { FinishReason, TokenLogprob } from '@chatglm/generation';

export type RequestStatus = 'queued' | 'running' | 'finished' | 'failed';

/** Why a request failed, as a client gets it. */
export interface RequestError {
  code: ErrorCode;
  message: string;
  /** Whether sending the request again may succeed (from the code's entry in the error registry). */
  retryable: boolean;
}

export interface RequestState {
  id: string;
  status: RequestStatus;
  /** The reply so far (process_response applied, never retracted: later text only appends). */
  text: string;
  /** Generated token ids so far (what a resumed attempt replays). */
  tokenIds: number[];
  finishReason?: FinishReason;
  error?: RequestError;
  promptTokens: number;
  completionTokens: number;
  /** Epoch ms. */
  acceptedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Epoch ms (with a fraction) of the last change: accepted, started, new text or tokens, ended. */
  updatedAt: number;
  /** How many times a head started this request (> 1 after a worker died). */
  attempts: number;
  /** The pipeline that took it last. */
  servedBy?: string;
}

/** One generated token with its log-probability and the most likely alternatives. */
export interface TokenLogprobs extends TokenLogprob {
  top: TokenLogprob[];
}

export type RequestEvent =
  /**
   * New text and/or tokens. `tokens` (the tokens of this step, with their log-probabilities) is
   * present only when the request asked for logprobs; `text` may then be "" (held back).
   */
  | { type: 'delta'; text: string; completionTokens: number; tokens?: TokenLogprobs[] }
  | { type: 'final'; finishReason: FinishReason; promptTokens: number; completionTokens: number }
  | ({ type: 'error' } & RequestError);

/** An event with its stream id; pass the id back to read what follows it. */
export type StreamedEvent = RequestEvent & { id: string };

export function isTerminal(status: RequestStatus): boolean {
  return status === 'finished' || status === 'failed';
}
