// Messages between the stages of a StageThread and the worker thread that runs them. One thread may
// run several stages (all WebGPU stages of a process share one), so every call names its stage.
import type { ErrorCode } from '@chatglm/common';
import type { DecodeRequest, PrefillRequest, RunOptions, StageSpec } from '../stage-runtime.ts';

export type ThreadCall =
  | { method: 'init'; spec: StageSpec }
  | { method: 'prefill'; request: PrefillRequest; options: RunOptions }
  | { method: 'decode'; entries: DecodeRequest[]; options: RunOptions }
  | { method: 'release'; seqId: string }
  | { method: 'capacity' }
  | { method: 'close' };

/** A call to stage `stage` of the thread (numbered by the host). */
export type ThreadRequest = ThreadCall & { id: number; stage: number };

export interface SerializedError {
  name: string;
  message: string;
  /** A ChatGlmError's code (its registry entry says whether a retry may succeed). */
  code: ErrorCode;
  stack?: string;
}

export type ThreadResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };
