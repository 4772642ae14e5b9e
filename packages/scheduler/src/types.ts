import type { ErrorCode } from '@chatglm/common';
import type { FinishReason, SamplingParams, SampledToken } from '@chatglm/generation';

/**
 * A request to generate. `context` is whatever its caller needs back with each of its steps and
 * updates (the pipeline head keeps the prompt's GLM layout and the job to settle there), so the
 * caller keeps no per-request map beside the scheduler's own state.
 */
export interface GenerationRequest<C> {
  id: string;
  /** The tokenized prompt, ending with [gMASK] <sop>. */
  promptIds: readonly number[];
  params: SamplingParams;
  /** Tokens an earlier attempt generated and streamed (a job resumed after a worker died). */
  resumeFrom?: readonly number[];
  context: C;
}

/** A fed-back token of one running sequence, to decode in a batch. */
export interface ScheduledDecode<C> {
  seqId: string;
  tokenId: number;
  /** Absolute index of that token in its sequence (prompt tokens first): gives its GLM positions. */
  index: number;
  /** Index of the token this step samples, counted from the first generated token. */
  sampleIndex: number;
  context: C;
}

export type Step<C> =
  /** Fill a sequence's cache with its prompt (plus resumed tokens) and sample its next token. */
  | { id: number; kind: 'prefill'; seqId: string; tokenIds: number[]; params: SamplingParams; sampleIndex: number; context: C }
  /** Feed one token to each of several running sequences and sample the next. */
  | { id: number; kind: 'decode'; entries: ScheduledDecode<C>[] };

/** A sampled token as a step's reply carries it. */
export type StepResult = SampledToken & { seqId: string };

/** What changed for one request; `finish` is set when it left the scheduler. */
export interface SequenceUpdate<C> {
  id: string;
  context: C;
  /** New text to stream (may be ""). */
  delta: string;
  /** The whole text so far. */
  text: string;
  /** The tokens this update adds (none, or the one a step sampled), as the last stage reported them. */
  newTokens: readonly SampledToken[];
  /** Every generated id so far (resumed ones first). */
  tokenIds: readonly number[];
  finish?: {
    reason: FinishReason;
    promptTokens: number;
    /** True when the request held KV slots that the stages must now release. */
    release: boolean;
    error?: StepFailure;
  };
}

export interface SchedulerStats {
  waiting: number;
  running: number;
  stepsInFlight: number;
  /** KV cache pages the running requests have claimed, and the pages there are (both 0 when slots alone limit admission). */
  kvPagesClaimed: number;
  kvPages: number;
  /** Requests preempted so far for want of KV pages (each prefilled again later). */
  preemptions: number;
  /** Decode steps sent so far. */
  decodeSteps: number;
  /** The largest decode batch so far. */
  maxBatchSize: number;
  /** Decode steps by batch size: batchSizes[n] = steps that carried n sequences. */
  batchSizes: Record<number, number>;
}

/** Why a step (and so its requests) failed; whether a retry may succeed follows from the code. */
export interface StepFailure {
  code: ErrorCode;
  message: string;
}
