// The state of one request as stored in its Redis hash, and the events of its stream.

export type RequestStatus = 'queued' | 'running' | 'finished' | 'failed';

export interface RequestState {
  id: string;
  status: RequestStatus;
  /** The reply so far (process_response applied, never retracted: later text only appends). */
  text: string;
  /** Generated token ids so far (what a resumed attempt replays). */
  tokenIds: number[];
  finishReason?: string;
  error?: { code: string; message: string };
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

export type RequestEvent =
  | { type: 'delta'; text: string; completionTokens: number }
  | { type: 'final'; finishReason: string; promptTokens: number; completionTokens: number }
  | { type: 'error'; code: string; message: string };

/** An event with its stream id; pass the id back to read what follows it. */
export type StreamedEvent = RequestEvent & { id: string };

export function isTerminal(status: RequestStatus): boolean {
  return status === 'finished' || status === 'failed';
}
