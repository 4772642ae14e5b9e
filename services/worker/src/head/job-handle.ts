// How the head ends a job it was given, without knowing the queue behind it (BullMQ in JobIntake,
// a recording fake in tests).
import type { StepFailure } from '@chatglm/scheduler';

export interface JobHandle {
  /**
   * The token this attempt claimed the request with: every write of the attempt carries it, and
   * Redis refuses the writes once a newer attempt has claimed the request (fencing).
   */
  readonly attempt: string;
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
  /**
   * This attempt lost the job (its lock lapsed, or a newer attempt claimed the request): it ends
   * without writing or settling anything; the queue and the newer attempt own the request now.
   */
  abandon(): void;
  /** Give the job back to the queue without using an attempt (this head is stopping); its progress is written. */
  handBack(): void;
}
