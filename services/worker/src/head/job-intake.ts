// The head's side of the queue: a BullMQ worker on the generate queue whose concurrency is the
// pipeline's capacity. Each job is checked against its request's Redis record (already finished? 
// cancelled before it started? resumed after a crash?), then handed to the PipelineHead with a
// JobHandle that settles it. Cancellations announced on Redis reach the head from here too.
import { type Logger } from '@chatglm/common';
import { samplingParamsFromJson, type SamplingParams } from '@chatglm/generation';
import { Cancellations, GENERATE_QUEUE, RequestStore, type GenerateJobData } from '@chatglm/queue';
import type { StepFailure } from '@chatglm/scheduler';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
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
  observer?: IntakeObserver;
  log: Logger;
}

/** How often BullMQ looks for stalled jobs: half the lock, but not more than once a second. */
const stalledIntervalFor = (lockDurationMs: number) => Math.max(1000, lockDurationMs / 2);

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
    this.workerConnection = o.redis.duplicate();
  }

  async start(): Promise<void> {
    this.unsubscribe = await Cancellations.subscribe(this.subscriber, this.store.keys, (id) => this.o.cancel(id));
    this.worker = new Worker<GenerateJobData, void>(GENERATE_QUEUE, (job) => this.process(job), {
      connection: this.workerConnection,
      prefix: this.o.prefix,
      concurrency: this.o.concurrency,
      lockDuration: this.o.lockDurationMs,
      stalledInterval: stalledIntervalFor(this.o.lockDurationMs),
      maxStalledCount: this.o.maxStalledCount,
    });
    this.worker.on('error', (err) => this.o.log.error('queue worker error', { error: err }));
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

  /** Stops taking jobs (the pipeline broke); the running ones are the head's to end. */
  pause(): void {
    this.worker?.pause(true).catch(() => undefined);
  }

  resume(): void {
    this.worker?.resume();
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

  private async recordFinalFailure(id: string, err: Error): Promise<void> {
    const state = await this.store.read(id);
    if (!state || state.status === 'finished' || state.status === 'failed') return;
    await this.store.fail(id, 'job_failed', `the request failed after every retry: ${err.message}`);
  }

  private async process(job: Job<GenerateJobData, void>): Promise<void> {
    const { requestId: id, promptIds } = job.data;
    // Read together: every round trip before the prefill adds to the time to first token.
    const [state, cancelled] = await Promise.all([this.store.read(id), this.cancellations.isCancelled(id)]);
    // It ended on an earlier attempt whose completion did not reach BullMQ.
    if (state?.status === 'finished' || state?.status === 'failed') return;
    if (cancelled) {
      const completionTokens = state?.tokenIds.length ?? 0;
      await this.store.finish({ id, delta: '', newTokens: [], completionTokens, withLogprobs: false, finishReason: 'cancelled', promptTokens: promptIds.length });
      return;
    }
    let params: SamplingParams;
    try {
      params = samplingParamsFromJson(job.data.params);
    } catch (err) {
      await this.store.fail(id, 'invalid_sampling_params', (err as Error).message);
      throw new UnrecoverableError((err as Error).message);
    }
    const resumeFrom = state?.tokenIds ?? [];
    this.o.observer?.taken(job.attemptsMade === 0 ? Math.max(0, Date.now() - job.data.acceptedAt) / 1000 : undefined, resumeFrom.length > 0);
    await this.store.start(id, this.o.pipelineId);
    if (resumeFrom.length > 0) this.o.log.info('resuming request', { requestId: id, attempt: job.attemptsMade + 1, tokens: resumeFrom.length });
    const settled = new Promise<void>((resolve, reject) => {
      this.o.submit({
        id,
        promptIds,
        params,
        resumeFrom,
        logprobs: job.data.logprobs,
        handle: {
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
        },
      });
    });
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
