// What the head keeps with each request inside its scheduler (the scheduler's context): everything
// a step or an update of the request needs, so the head keeps no per-request map of its own.
import type { SequencePositions } from '@chatglm/glm';
import type { JobHandle } from './job-handle.ts';

export interface HeadSequence {
  /** The GLM positions of the request's tokens, from its prompt. */
  positions: SequencePositions;
  /** Where the request's job is settled. */
  job: JobHandle;
  /** Alternatives per token to report with each token's logprob; undefined: no logprobs asked for. */
  logprobs: number | undefined;
}
