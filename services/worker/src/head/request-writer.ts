// The head's writes to each request's Redis records, in the order the scheduler produced them: one
// chain, so a request's final write never overtakes its progress, and a job handed back for a retry
// is handed back only after its last progress is written (the next attempt resumes from it).
//
// A write that fails is retried in place (the chain waits), so the text never gets a hole: a later
// delta cannot land before an earlier one. A write still failing after the retries, or refused
// because another attempt has claimed the request (fencing), ends that attempt's writing: nothing
// more of it is written, and `onLost` / `onRefused` tell the head to end the attempt without writes.
import type { ErrorCode, Logger } from '@chatglm/common';
import type { RequestOutcome, RequestProgress, RequestStore } from '@chatglm/queue';

/** The part of RequestStore the writer uses (a fake in tests). */
export type RequestSink = Pick<RequestStore, 'progress' | 'finish' | 'fail'>;

/** What became of a request's final write. */
export type FinalWrite = 'written' | 'refused' | 'lost';

/** Which attempt at which request a write was for. */
export interface WriteOwner {
  id: string;
  attempt?: string;
}

export interface RequestWriterOptions {
  /** Writes of these attempts were refused: another attempt owns their requests now. */
  onRefused?: (owners: readonly WriteOwner[]) => void;
  /** Writes of these attempts failed after every retry; nothing more of them is written. */
  onLost?: (owners: readonly WriteOwner[], error: unknown) => void;
  /** Pauses before each retry of a failed write, in ms. */
  retryDelaysMs?: readonly number[];
}

/** About 3 s of retries: a Redis failover or a brief overload passes; a long outage ends the attempt. */
const DEFAULT_RETRY_DELAYS_MS = [50, 100, 200, 400, 800, 1600];

export class RequestWriter {
  private chain: Promise<void> = Promise.resolve();
  /** Attempts whose writing ended (refused or lost): their later writes are dropped, never reordered. */
  private readonly ended = new Map<string, Exclude<FinalWrite, 'written'>>();
  /** The number of each attempt's last write (see FencedWrite.seq): a write sent again is applied once. */
  private readonly numbered = new Map<string, number>();

  constructor(
    private readonly sink: RequestSink,
    private readonly log: Logger,
    private readonly o: RequestWriterOptions = {},
  ) {}

  /** One step's progress of several requests, in one round trip. */
  progress(updates: readonly RequestProgress[]): void {
    if (updates.length === 0) return;
    void this.enqueue(async () => {
      const live = updates.filter((u) => !this.ended.has(attemptOf(u))).map((u) => this.numberedWrite(u));
      if (live.length === 0) return;
      let refused: string[];
      try {
        refused = await this.withRetries(() => this.sink.progress(live));
      } catch (err) {
        this.log.error('cannot write progress to Redis; ending the attempts', { requests: live.map((u) => u.id), error: err });
        for (const u of live) this.ended.set(attemptOf(u), 'lost');
        this.o.onLost?.(live.map(ownerOf), err);
        return;
      }
      if (refused.length === 0) return;
      const owners = live.filter((u) => refused.includes(u.id)).map(ownerOf);
      for (const o of owners) this.ended.set(attemptOf(o), 'refused');
      this.log.warn('writes refused: another attempt owns these requests now', { requests: refused });
      this.o.onRefused?.(owners);
    });
  }

  /** Resolves once the request's outcome is written (after everything queued before it), or why not. */
  finish(outcome: RequestOutcome): Promise<FinalWrite> {
    return this.final(outcome, (seq) => this.sink.finish(seq === undefined ? outcome : { ...outcome, seq }));
  }

  /** Resolves once the failure is written (after everything queued before it), or why not. */
  fail(id: string, code: ErrorCode, message: string, attempt?: string): Promise<FinalWrite> {
    return this.final({ id, ...(attempt !== undefined && { attempt }) }, (seq) => this.sink.fail(id, code, message, attempt === undefined ? {} : { attempt, seq }));
  }

  /** Resolves once everything queued so far is written (or failed). */
  flushed(): Promise<void> {
    return this.enqueue(async () => undefined);
  }

  /** The attempt is settled: once the writes queued before now are done, forget that its writing ended. */
  forget(owner: WriteOwner): void {
    void this.enqueue(async () => {
      this.ended.delete(attemptOf(owner));
      this.numbered.delete(attemptOf(owner));
    });
  }

  /** The write with its number within its attempt (numbered when it is made, in the chain's order); unnumbered without an attempt. */
  private numberedWrite<W extends WriteOwner>(w: W): W & { seq?: number } {
    if (w.attempt === undefined) return w;
    const seq = (this.numbered.get(w.attempt) ?? 0) + 1;
    this.numbered.set(w.attempt, seq);
    return { ...w, seq };
  }

  /** `write` gets the write's number, taken once: its retries are the same write, and Redis applies it once. */
  private final(owner: WriteOwner, write: (seq: number | undefined) => Promise<boolean>): Promise<FinalWrite> {
    let result: FinalWrite = 'lost';
    return this.enqueue(async () => {
      const ended = this.ended.get(attemptOf(owner));
      if (ended) {
        result = ended;
        return;
      }
      const { seq } = this.numberedWrite(owner);
      try {
        result = (await this.withRetries(() => write(seq))) ? 'written' : 'refused';
      } catch (err) {
        this.log.error('cannot write the end of a request to Redis', { requestId: owner.id, error: err });
        result = 'lost';
      }
    }).then(() => result);
  }

  private async withRetries<T>(write: () => Promise<T>): Promise<T> {
    const delays = this.o.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    for (let retry = 0; ; retry++) {
      try {
        return await write();
      } catch (err) {
        const delay = delays[retry];
        if (delay === undefined) throw err;
        this.log.warn('a Redis write failed; retrying it', { retry: retry + 1, error: err });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    const done = this.chain.then(write);
    this.chain = done.catch(() => undefined);
    return done;
  }
}

/** Whose writing a write belongs to: the attempt's token, or the request when it has none. */
const attemptOf = (w: WriteOwner): string => w.attempt ?? `request:${w.id}`;
const ownerOf = (w: WriteOwner): WriteOwner => ({ id: w.id, ...(w.attempt !== undefined && { attempt: w.attempt }) });
