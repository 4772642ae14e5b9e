// How the head ends a job it was given, without knowing the queue behind it (BullMQ in JobIntake,
// a recording fake in tests).
import type { StepFailure } from '@chatglm/scheduler';

export interface JobHandle {
  /** Attempts started before this one (0 on the first). */
  readonly attemptsBefore: number;
  /** Attempts the queue allows in all. */
  readonly maxAttempts: number;
  /** The request finished and its outcome is recorded. */
  done(): void;
  /** Give the job back to the queue for another attempt; nothing was recorded. */
  retry(failure: StepFailure): void;
  /** The request failed for good; the failure is recorded (or could not be). */
  fail(failure: StepFailure): void;
}
