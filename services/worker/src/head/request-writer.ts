// The head's writes to each request's Redis records, in the order the scheduler produced them: one
// chain, so a request's final write never overtakes its progress, and a job handed back for a retry
// is handed back only after its last progress is written (the next attempt resumes from it).
import type { ErrorCode, Logger } from '@chatglm/common';
import type { RequestOutcome, RequestProgress, RequestStore } from '@chatglm/queue';

/** The part of RequestStore the writer uses (a fake in tests). */
export type RequestSink = Pick<RequestStore, 'progress' | 'finish' | 'fail'>;

export class RequestWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly sink: RequestSink,
    private readonly log: Logger,
  ) {}

  /** One step's progress of several requests, in one round trip. A failed write is logged. */
  progress(updates: readonly RequestProgress[]): void {
    if (updates.length === 0) return;
    void this.enqueue(() => this.sink.progress(updates)).catch((err: unknown) => this.log.error('cannot write progress to Redis', { error: err }));
  }

  /** Resolves once the request's outcome is written (after everything queued before it). */
  finish(outcome: RequestOutcome): Promise<void> {
    return this.enqueue(() => this.sink.finish(outcome));
  }

  /** Resolves once the failure is written (after everything queued before it). */
  fail(id: string, code: ErrorCode, message: string): Promise<void> {
    return this.enqueue(() => this.sink.fail(id, code, message));
  }

  /** Resolves once everything queued so far is written (or failed). */
  flushed(): Promise<void> {
    return this.enqueue(async () => undefined);
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    const done = this.chain.then(write);
    this.chain = done.catch(() => undefined);
    return done;
  }
}
