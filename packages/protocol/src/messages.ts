// TypeScript shapes of the chatglm.stage.v1 messages, exactly as @grpc/proto-loader hands them to
// us with the options in proto-definitions.ts: camelCase fields, enums as their proto names, bytes
// as Buffer, 64-bit integers as JS numbers, and every field present (proto3 defaults filled in;
// an unset message field is null). The proto file documents the meaning of each field.

/**
 * Incompatible changes of meaning within chatglm.stage.v1 bump this; stages whose versions differ
 * refuse to chain (validateChain).
 */
export const PROTOCOL_VERSION = 2;

/** Fully qualified name of the Stage service, as used by the health service. */
export const STAGE_SERVICE_NAME = 'chatglm.stage.v1.Stage';

export type ActivationDtype = 'ACTIVATION_DTYPE_UNSPECIFIED' | 'ACTIVATION_DTYPE_FLOAT32' | 'ACTIVATION_DTYPE_FLOAT16';

export type Phase = 'PHASE_UNSPECIFIED' | 'PHASE_PREFILL' | 'PHASE_DECODE';

/** The wire form of a stage's description (Info); named apart from the runtime's own StageRuntimeInfo. */
export interface StageInfo {
  protocolVersion: number;
  modelId: string;
  /** Layers [layerStart, layerEnd) held by the stage. */
  layerStart: number;
  layerEnd: number;
  numLayers: number;
  hiddenSize: number;
  activationDtype: ActivationDtype;
  maxSequences: number;
  maxTokensPerSequence: number;
  /** host:port the stage listens on, for error messages. */
  address: string;
  /** KV cache pages the stage's sequences can hold together and positions per page (0: not reported; slots alone then limit admission). */
  kvPages?: number;
  kvPageSize?: number;
}

export interface InfoReply {
  /** The answering stage first, then every stage downstream of it, in order. */
  stages: StageInfo[];
}

export interface Sampling {
  doSample: boolean;
  temperature: number;
  topP: number;
  /** 0 disables top-k. */
  topK: number;
  repetitionPenalty: number;
  /** A 64-bit unsigned seed as a decimal string (it does not fit a JS number). */
  seed: string;
  /** Alternatives to report per sampled token, 0..20 (0 when omitted). */
  topLogprobs?: number;
  /** The client did not ask for logprobs: a greedy choice may skip the softmax and report NaN (false when omitted). */
  omitLogprob?: boolean;
}

export interface Entry {
  seqId: string;
  phase: Phase;
  tokenIds: number[];
  positions: number[];
  blockPositions: number[];
  contextLength: number;
  /** [tokenIds.length, hiddenSize] in the receiving stage's dtype; see encodeActivations. */
  activations: Buffer;
  /** PREFILL only; null (or omitted when sending) otherwise. */
  sampling?: Sampling | null;
  sampleIndex: number;
}

export interface StepRequest {
  /**
   * Chosen by the head, unique per stream. The wire type is uint64 but it is a JS number here:
   * a per-stream counter never reaches 2^53, and the client refuses to send an unsafe integer.
   */
  stepId: number;
  entries: Entry[];
}

/** Frees sequences' caches on a stage and downstream; never answered. */
export interface Release {
  seqIds: string[];
}

/**
 * One message of a Step stream. Received messages name their member in `kind` (the loader's
 * virtual oneof field); a sent message needs only the member itself.
 */
export type StepMessage = { kind: 'step'; step: StepRequest } | { kind: 'release'; release: Release };

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

export interface Sampled {
  seqId: string;
  tokenId: number;
  logprob: number;
  /** Most likely first; empty unless the step's Sampling asked for alternatives (may be omitted when sending). */
  topLogprobs?: TokenLogprob[];
}

export interface StageTiming {
  layerStart: number;
  layerEnd: number;
  forwardMs: number;
}

export interface StepError {
  /** A code of the error registry (@chatglm/common ERROR_CODES); a peer may send one we do not know. */
  code: string;
  message: string;
}

export interface StepReply {
  stepId: number;
  results: Sampled[];
  timings: StageTiming[];
  /** Set when the step failed on some stage (then results is empty); null or omitted otherwise. */
  error?: StepError | null;
}

/** grpc.health.v1 serving status names. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
