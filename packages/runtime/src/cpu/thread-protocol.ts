// Messages between a CpuStageRuntime and its worker thread.
import type { ErrorCode } from '@chatglm/common';
import type { DecodeRequest, PrefillRequest, RunOptions, StageSpec } from '../stage-runtime.ts';

export type ThreadCall =
  | { method: 'init'; spec: StageSpec }
  | { method: 'prefill'; request: PrefillRequest; options: RunOptions }
  | { method: 'decode'; entries: DecodeRequest[]; options: RunOptions }
  | { method: 'release'; seqId: string }
  | { method: 'capacity' }
  | { method: 'close' };

export type ThreadRequest = ThreadCall & { id: number };

export interface SerializedError {
  name: string;
  message: string;
  /** A ChatGlmError's code (its registry entry says whether a retry may succeed). */
  code: ErrorCode;
  stack?: string;
}

export type ThreadResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };
