// Whether a failed request goes back to the queue for another attempt (it then resumes from the
// tokens already streamed) or fails for good. Pure.
import { errorCodeInfo } from '@chatglm/common';
import type { StepFailure } from '@chatglm/scheduler';
import type { JobHandle } from './job-handle.ts';

export type FailureOutcome = 'retry' | 'fail';

/** Retry when the error's code says another attempt may succeed and attempts remain. */
export function failureOutcome(failure: StepFailure, job: Pick<JobHandle, 'attemptsBefore' | 'maxAttempts'>): FailureOutcome {
  const lastAttempt = job.attemptsBefore + 1 >= job.maxAttempts;
  return errorCodeInfo(failure.code).retryable && !lastAttempt ? 'retry' : 'fail';
}
