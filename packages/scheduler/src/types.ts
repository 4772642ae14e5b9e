import type { FinishReason, SamplingParams } from '@chatglm/generation';

export interface GenerationRequest {
  id: string;
  /** The tokenized prompt, ending with [gMASK] <sop>. */
  promptIds: readonly number[];
  params: SamplingParams;
  /** Tokens an earlier attempt generated and streamed (a job resumed after a worker died). */
  resumeFrom?: readonly number[];
}

/** A fed-back token of one running sequence. */
export interface DecodeEntry {
  seqId: string;
  tokenId: number;
  /** Absolute index of that token in its sequence (prompt tokens first): gives its GLM positions. */
  index: number;
  /** Index of the token this step samples, counted from the first generated token. */
  sampleIndex: number;
}

export type Step =
  /** Fill a sequence's cache with its prompt (plus resumed tokens) and sample its next token. */
  | { id: number; kind: 'prefill'; seqId: string; tokenIds: number[]; params: SamplingParams; sampleIndex: number }
  /** Feed one token to each of several running sequences and sample the next. */
  | { id: number; kind: 'decode'; entries: DecodeEntry[] };

/** What changed for one request; `finish` is set when it left the scheduler. */
export interface SequenceUpdate {
  id: string;
  /** New text to stream (may be ""). */
  delta: string;
  /** The whole text so far. */
  text: string;
  /** Generated ids so far. */
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
  /** Decode steps sent so far. */
  decodeSteps: number;
  /** The largest decode batch so far. */
  maxBatchSize: number;
  /** Decode steps by batch size: batchSizes[n] = steps that carried n sequences. */
  batchSizes: Record<number, number>;
}

/** Why a step (and so its requests) failed. */
export interface StepFailure {
  code: string;
  message: string;
  /** True when running the request again (elsewhere, later) may succeed. */
  retryable?: boolean;
}
