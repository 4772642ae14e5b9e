// The head's side of the queue: a BullMQ worker on the generate queue whose concurrency is the
// pipeline's capacity (lowered while requests wait in the head for KV pages, see HeadService). Each
// job is checked against its request's Redis record (already finished? cancelled before it
// started? resumed after a crash?), then handed to the PipelineHead with a JobHandle that settles
// it. Cancellations announced on Redis reach the head from here too.
import { randomUUID } from 'node:crypto';
import { type Logger } from '@chatglm/common';
import { samplingParamsFromJson, type SamplingParams } from '@chatglm/generation';
import { Cancellations, GENERATE_QUEUE, RequestStore, createGenerateQueue, releasePredecessorJobs, type GenerateJobData } from '@chatglm/queue';
import type { StepFailure } from '@chatglm/scheduler';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { HeadJob } from './pipeline-head.ts';

/** What the intake tells whoever watches it (the head's metrics). */
export interface IntakeObserver {
  /**
   * A job was taken: `waitedSeconds` since the gateway admitted it (first attempts only; a later
   * attempt's wait includes the earlier attempts), `resumed` when an earlier attempt streamed tokens.
   */
  taken(waitedSeconds: number | undefined, resumed: boolean): void;
  /** An attempt went back to the queue to run again. */
  handedBack(): void;
}

export interface JobIntakeOptions {
  redis: Redis;
  prefix: string;
  pipelineId: string;
  /** Jobs run at once: the pipeline's KV capacity. */
  concurrency: number;
  /** BullMQ job lock, in ms: a dead head's jobs are taken over after about this long. */
  lockDurationMs: number;
  /** Times a job may stall (its head died) before BullMQ fails it for good. */
  maxStalledCount: number;
  /** Where jobs go. */
  submit: (job: HeadJob) => void;
  /** Where cancellations go. */
  cancel: (requestId: string) => void;
  /** Where attempts that lost their job go (their lock lapsed): they must stop writing. */
  abandon: (requestId: string, attempt: string) => void;
  observer?: IntakeObserver;
  log: Logger;
}

/**
 * How often BullMQ looks for stalled jobs (a dead head's): once a second, so that a job is taken
 * over within its lock duration and a second of the head's death (each look is one small script).
 */
const STALLED_INTERVAL_MS = 1000;
/**
 * Seconds an idle worker blocks waiting for a job. A head whose pipeline comes back (a stage
 * restarted) takes its failed-for-retry jobs once the wait it was in ends: with BullMQ's 5 s, and
 * then 1 s, that wait was most of a single pipeline's stall (measured by `pnpm bench recovery`).
 * An idle head polls Redis five times a second for it.
 */
const DRAIN_DELAY_SECONDS = 0.2;

export class JobIntake {
  private readonly store: RequestStore;
  private readonly cancellations: Cancellations;
  private readonly subscriber: Redis;
  /** BullMQ leaves a connection it was given open when it closes; this one is ours to close. */
  private readonly workerConnection: Redis;
  private worker: Worker<GenerateJobData, void> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(private readonly o: JobIntakeOptions) {
    this.store = new RequestStore(o.redis, o.prefix);
    this.cancellations = new Cancellations(o.redis, this.store.keys);
    this.subscriber = o.redis.duplicate();
    this.subscriber.on('error', (err: Error) => o.log.debug('cancellation subscriber connection error', { error: err }));
    this.workerConnection = o.redis.duplicate();
  }

  async start(): Promise<void> {
    this.unsubscribe = await Cancellations.subscribe(this.subscriber, this.store.keys, (id) => this.o.cancel(id));
    await this.releasePredecessorJobs();
    // Three parameters: BullMQ then hands the processor an AbortSignal for the job (see cancelJob).
    this.worker = new Worker<GenerateJobData, void>(GENERATE_QUEUE, (job, token, signal) => this.process(job, token, signal), {
      connection: this.workerConnection,
      prefix: this.o.prefix,
      concurrency: this.o.concurrency,
      lockDuration: this.o.lockDurationMs,
      stalledInterval: STALLED_INTERVAL_MS,
      drainDelay: DRAIN_DELAY_SECONDS,
      maxStalledCount: this.o.maxStalledCount,
    });
    this.worker.on('error', (err) => this.o.log.error('queue worker error', { error: err }));
    // A lock this head could not renew has lapsed (Redis or this process was paused for longer
    // than the lock): the job is the queue's again and will be taken over, so its attempt here
    // must stop now (its writes would be refused anyway once the next attempt claims the request).
    this.worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) {
        this.o.log.warn('lost the lock of a job; abandoning its attempt', { requestId: id });
        this.worker?.cancelJob(id, 'the job lock lapsed');
      }
    });
    // A job can also fail outside this head's code: BullMQ fails a job whose heads kept dying
    // ("stalled more than allowable limit"). Record it, so that clients waiting on it get an error
    // instead of waiting for their timeout.
    // Whether the failure is final is the job's state, not its attempts: a job failed for stalling
    // too often has used no attempt.
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      void job
        .getState()
        .then((state) => (state === 'failed' ? this.recordFinalFailure(job.data.requestId, err) : undefined))
        .catch((e: unknown) => this.o.log.warn('cannot record a failed job', { error: e }));
    });
  }

  /** Stops taking jobs (the pipeline broke, or the head stops); the running ones are the head's to end. */
  pause(): void {
    this.worker?.pause(true).catch(() => undefined);
  }

  resume(): void {
    this.worker?.resume();
  }

  /** Jobs taken at once from now on (the ones running stay). */
  setConcurrency(jobs: number): void {
    if (this.worker && this.worker.concurrency !== jobs) this.worker.concurrency = jobs;
  }

  /** Stops taking jobs and waits for the running ones to settle. */
  async close(): Promise<void> {
    try {
      await this.worker?.close();
    } finally {
      await this.unsubscribe?.().catch(() => undefined);
      this.subscriber.disconnect();
      this.workerConnection.disconnect();
    }
  }

  /** Before taking jobs: those a dead head of this pipeline id held resume now, not once their locks lapse (see predecessor-jobs.ts). */
  private async releasePredecessorJobs(): Promise<void> {
    const queue = createGenerateQueue(this.o.redis, this.o.prefix);
    try {
      const released = await releasePredecessorJobs(this.o.redis, queue, this.store, this.o.pipelineId);
      if (released.length > 0) this.o.log.info("took back the jobs of this pipeline's previous head", { requestIds: released });
    } catch (err) {
      // Their locks lapse in time; nothing is lost by waiting for that.
      this.o.log.warn("cannot take back the jobs of this pipeline's previous head", { error: err });
    } finally {
      await queue.close().catch(() => undefined);
    }
  }

  private async recordFinalFailure(id: string, err: Error): Promise<void> {
    const state = await this.store.read(id);
    if (!state || state.status === 'finished' || state.status === 'failed') return;
    await this.store.fail(id, 'job_failed', `the request failed after every retry: ${err.message}`);
  }

  private async process(job: Job<GenerateJobData, void>, token: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    const { requestId: id, promptIds } = job.data;
    // A token of this attempt's own (BullMQ's lock token is not one: a worker reuses it for the next
    // job it fetches, which may be this job again): claiming with it fences off every earlier
    // attempt's writes, and the tokens to resume from are read in the same step. One round trip
    // before the prefill (each adds to the time to first token): the claim also tells whether the
    // request ended on an earlier attempt whose completion did not reach BullMQ (nothing to run)
    // or was cancelled before it started.
    const attempt = randomUUID();
    const claim = await this.store.claim(id, { pipelineId: this.o.pipelineId, attempt });
    if (!claim) return;
    if (claim.cancelled) {
      await this.store.finish({ id, delta: '', newTokens: [], completionTokens: claim.tokenIds.length, withLogprobs: false, finishReason: 'cancelled', promptTokens: promptIds.length });
      return;
    }
    let params: SamplingParams;
    try {
      params = samplingParamsFromJson(job.data.params);
    } catch (err) {
      await this.store.fail(id, 'invalid_sampling_params', (err as Error).message);
      throw new UnrecoverableError((err as Error).message);
    }
    const resumeFrom = claim.tokenIds;
    this.o.observer?.taken(job.attemptsMade === 0 ? Math.max(0, Date.now() - job.data.acceptedAt) / 1000 : undefined, resumeFrom.length > 0);
    if (resumeFrom.length > 0) this.o.log.info('resuming request', { requestId: id, attempt: job.attemptsMade + 1, tokens: resumeFrom.length });
    const settled = new Promise<void>((resolve, reject) => {
      this.o.submit({
        id,
        promptIds,
        params,
        resumeFrom,
        logprobs: job.data.logprobs,
        handle: {
          attempt,
          attemptsBefore: job.attemptsMade,
          maxAttempts: job.opts.attempts ?? 1,
          done: () => resolve(),
          // A plain error: BullMQ runs the job again (after its backoff).
          retry: (failure: StepFailure) => {
            this.o.observer?.handedBack();
            reject(new Error(`${failure.code}: ${failure.message}`));
          },
          // UnrecoverableError: no more attempts; the failure is already in the request's record.
          fail: (failure: StepFailure) => reject(new UnrecoverableError(`${failure.code}: ${failure.message}`)),
          // The queue owns the job again (its lock lapsed and it is, or will be, taken over): BullMQ
          // cannot settle it with this attempt's lock, and must not.
          abandon: () => reject(new Error('this attempt lost its job (its lock lapsed); another attempt resumes it')),
          // Back to waiting without using an attempt; WaitingError tells BullMQ it is moved already.
          handBack: () => {
            this.o.observer?.handedBack();
            job.moveToWait(token).then(
              () => reject(new WaitingError()),
              (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
            );
          },
        },
      });
    });
    signal?.addEventListener('abort', () => this.o.abandon(id, attempt), { once: true });
    // A cancellation announced between the check above and the submit found no request here and
    // was dropped; its key outlives the announcement, so one look now catches it (the key is set
    // before the announcement, and from here on announcements reach the head).
    // The head may settle the job while we look: mark the rejection handled until `await settled`.
    settled.catch(() => undefined);
    try {
      if (await this.cancellations.isCancelled(id)) this.o.cancel(id);
    } catch (err) {
      this.o.log.warn('cannot look for a cancellation', { requestId: id, error: err });
    }
    await settled;
  }
}
