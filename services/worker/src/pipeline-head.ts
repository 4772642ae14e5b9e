// The pipeline head (stage 0): a BullMQ worker on the generate queue whose jobs it hands to the
// scheduler. One loop turns the scheduler's steps into runs of its own layers and Step requests
// down the chain, and turns replies back into scheduler updates: text deltas written to Redis
// (DESIGN.md §6), finished jobs, released caches.
//
// Failure model: a job whose pipeline breaks is failed as retryable; BullMQ runs it again (here
// once the chain is back, or on another pipeline) and the new attempt resumes from the tokens
// already streamed, so the client sees neither repeated text nor a gap. A head that dies leaves
// its jobs to BullMQ's stalled-job recovery, with the same resume.
import { ChatGlmError, type Logger } from '@chatglm/common';
import type { SamplingParams, VocabInfo } from '@chatglm/generation';
import { glmPositions, promptLayout, type PromptLayout, type SpecialIds } from '@chatglm/glm';
import type { Entry, StageInfo, StepReply } from '@chatglm/protocol';
import { Cancellations, GENERATE_QUEUE, PipelineRegistry, RequestStore, fromWireParams, type GenerateJobData, type GenerateJobResult } from '@chatglm/queue';
import type { StageRuntime } from '@chatglm/runtime';
import { Scheduler, type SequenceUpdate, type Step, type StepFailure } from '@chatglm/scheduler';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DownstreamLink } from './downstream-link.ts';
import { releaseEntry, type StageStep } from './stage-step.ts';
import { toWireSampling } from './wire-sampling.ts';

export interface PipelineHeadOptions {
  pipelineId: string;
  runtime: StageRuntime;
  step: StageStep;
  /** The rest of the pipeline; null when the head holds every layer. */
  link: DownstreamLink | null;
  /** Stages after the head, as their Info reported (for capacity). */
  downstream: StageInfo[];
  text: { vocab: VocabInfo; decode: (ids: number[]) => string; processResponse: (t: string) => string };
  special: SpecialIds;
  redis: Redis;
  prefix: string;
  /** Decode micro-batches in flight; default the number of stages. */
  microBatches?: number;
  /** BullMQ lock duration: how soon the jobs of a dead head are taken over. Default 10 s. */
  lockDurationMs?: number;
  log: Logger;
}

interface PendingJob {
  job: Job<GenerateJobData, GenerateJobResult>;
  /** When the job's BullMQ progress was last updated (ms). */
  progressAt: number;
  resolve: (result: GenerateJobResult) => void;
  reject: (error: Error) => void;
}

/** How often a running job's BullMQ progress is refreshed (the text itself streams every step). */
const PROGRESS_INTERVAL_MS = 500;

/** Step ids of RELEASE requests come from their own range, apart from the scheduler's. */
const RELEASE_STEP_BASE = 2 ** 40;

export class PipelineHead {
  readonly scheduler: Scheduler;
  private readonly store: RequestStore;
  private readonly cancellations: Cancellations;
  private readonly registry: PipelineRegistry;
  private readonly jobs = new Map<string, PendingJob>();
  private readonly layouts = new Map<string, PromptLayout>();
  private writes: Promise<unknown> = Promise.resolve();
  private worker: Worker<GenerateJobData, GenerateJobResult> | undefined;
  private subscriber: Redis | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private releaseStepId = RELEASE_STEP_BASE;
  private closed = false;

  constructor(private readonly o: PipelineHeadOptions) {
    const all = [{ maxSequences: o.runtime.info.maxSequences, maxTokensPerSequence: o.runtime.info.maxTokensPerSequence }, ...o.downstream];
    this.scheduler = new Scheduler({
      maxRunning: Math.min(...all.map((s) => s.maxSequences)),
      maxTokensPerSequence: Math.min(...all.map((s) => s.maxTokensPerSequence)),
      microBatches: o.microBatches ?? 1 + o.downstream.length,
      text: o.text,
    });
    this.store = new RequestStore(o.redis, o.prefix);
    this.cancellations = new Cancellations(o.redis, this.store.keys);
    this.registry = new PipelineRegistry(o.redis, this.store.keys);
  }

  get capacity(): number {
    return Math.min(this.o.runtime.info.maxSequences, ...this.o.downstream.map((s) => s.maxSequences));
  }

  async start(): Promise<void> {
    this.subscriber = this.o.redis.duplicate();
    await Cancellations.subscribe(this.subscriber, this.store.keys, (id) => this.cancel(id));
    const lockDuration = this.o.lockDurationMs ?? 10_000;
    this.worker = new Worker<GenerateJobData, GenerateJobResult>(GENERATE_QUEUE, (job) => this.process(job), {
      connection: this.o.redis.duplicate(),
      prefix: this.o.prefix,
      concurrency: this.capacity,
      lockDuration,
      stalledInterval: Math.max(1000, lockDuration / 2),
      maxStalledCount: 3,
    });
    this.worker.on('error', (err) => this.o.log.error('queue worker error', { error: err }));
    // A job can also fail outside this head's own code: BullMQ fails a job whose heads kept dying
    // ("stalled more than allowable limit"). Record it so that clients waiting on it get an error
    // instead of waiting for their timeout.
    this.worker.on('failed', (job, err) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
      void this.recordFinalFailure(job.data.requestId, err).catch((e) => this.o.log.warn('cannot record a failed job', { error: e }));
    });
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), 1000);
    this.o.log.info('pipeline serving', { pipelineId: this.o.pipelineId, capacity: this.capacity, stages: 1 + this.o.downstream.length });
  }

  /** The rest of the pipeline broke: fail every request for a retry and stop taking jobs. */
  onPipelineLost(error: Error): void {
    this.o.log.warn('pipeline lost; failing its requests for retry', { error });
    this.worker?.pause(true).catch(() => undefined);
    void this.registry.remove(this.o.pipelineId).catch(() => undefined);
    const failure: StepFailure = { code: 'pipeline_lost', message: `the pipeline broke: ${error.message}`, retryable: true };
    const updates = this.scheduler.failAll(failure);
    for (const u of updates) void this.o.step.run([releaseEntry(u.id)]).catch(() => undefined);
    this.apply(updates);
  }

  /** The chain is whole again: take jobs again. */
  onPipelineRestored(): void {
    if (!this.worker || this.closed) return;
    this.worker.resume();
    void this.beat();
    this.o.log.info('pipeline restored', { pipelineId: this.o.pipelineId });
  }

  /** Stops taking jobs, lets the running ones finish, then leaves. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.registry.remove(this.o.pipelineId).catch(() => undefined);
    await this.worker?.close();
    await this.writes.catch(() => undefined);
    this.subscriber?.disconnect();
  }

  private async recordFinalFailure(id: string, err: Error): Promise<void> {
    const state = await this.store.read(id);
    if (!state || state.status === 'finished' || state.status === 'failed') return;
    await this.store.fail(id, 'job_failed', `the request failed after every retry: ${err.message}`);
  }

  private async beat(): Promise<void> {
    if (this.closed || (this.o.link && !this.o.link.connected)) return;
    await this.registry.beat(this.o.pipelineId, { ...this.scheduler.stats() }).catch((err) => this.o.log.warn('heartbeat failed', { error: err }));
  }

  private async process(job: Job<GenerateJobData, GenerateJobResult>): Promise<GenerateJobResult> {
    const { requestId: id, promptIds } = job.data;
    const state = await this.store.read(id);
    // The job finished on an earlier attempt whose completion did not reach BullMQ.
    if (state?.status === 'finished') return { text: state.text, finishReason: state.finishReason ?? 'stop', promptTokens: state.promptTokens, completionTokens: state.completionTokens };
    if (await this.cancellations.isCancelled(id)) {
      await this.store.finish({ id, delta: '', text: state?.text ?? '', tokenIds: state?.tokenIds ?? [], finishReason: 'cancelled', promptTokens: promptIds.length });
      return { text: state?.text ?? '', finishReason: 'cancelled', promptTokens: promptIds.length, completionTokens: state?.tokenIds.length ?? 0 };
    }
    const resumeFrom = state?.tokenIds ?? [];
    await this.store.start(id, this.o.pipelineId);
    if (resumeFrom.length > 0) this.o.log.info('resuming request', { requestId: id, attempt: job.attemptsMade + 1, tokens: resumeFrom.length });
    const params: SamplingParams = fromWireParams(job.data.params);
    return new Promise<GenerateJobResult>((resolve, reject) => {
      this.jobs.set(id, { job, resolve, reject, progressAt: 0 });
      try {
        this.apply(this.scheduler.submit({ id, promptIds, params, resumeFrom }));
      } catch (err) {
        this.jobs.delete(id);
        reject(err as Error);
        return;
      }
      this.pump();
    });
  }

  private cancel(id: string): void {
    if (!this.jobs.has(id)) return;
    this.apply(this.scheduler.cancel(id));
    this.pump();
  }

  private pump(): void {
    if (this.o.link && !this.o.link.connected) return;
    for (const step of this.scheduler.schedule()) void this.dispatch(step);
  }

  private async dispatch(step: Step): Promise<void> {
    try {
      const entries = this.entries(step);
      const outcome = await this.o.step.run(entries);
      if (outcome.kind === 'sampled') this.onReply({ stepId: step.id, results: outcome.results, timings: [outcome.timing] });
      else if (outcome.kind === 'forward') {
        if (!this.o.link) throw new ChatGlmError('stage_internal', 'the head is not the last stage but has no next stage');
        this.o.link.send({ stepId: step.id, entries: outcome.entries });
      }
    } catch (err) {
      const e = err instanceof ChatGlmError ? err : new ChatGlmError('stage_internal', String(err instanceof Error ? err.message : err));
      if (this.o.link && !this.o.link.connected) return; // onPipelineLost fails the whole batch
      this.o.log.warn('step failed on the head', { stepId: step.id, error: e });
      this.apply(this.scheduler.fail(step.id, { code: e.code, message: e.message, retryable: e.retryable }));
      this.pump();
    }
  }

  /** A step came back from the last stage (or from the head itself when it holds every layer). */
  readonly onReply = (reply: StepReply): void => {
    if (reply.stepId >= RELEASE_STEP_BASE) return;
    let updates: SequenceUpdate[];
    try {
      updates = reply.error ? this.scheduler.fail(reply.stepId, reply.error) : this.scheduler.complete(reply.stepId, reply.results);
    } catch (err) {
      this.o.log.warn('reply for an unknown step', { stepId: reply.stepId, error: err });
      return;
    }
    this.apply(updates);
    this.pump();
  };

  private entries(step: Step): Entry[] {
    if (step.kind === 'prefill') {
      const layout = promptLayout(step.tokenIds, this.o.special);
      this.layouts.set(step.seqId, layout);
      const { positions, blockPositions } = glmPositions(layout, 0, step.tokenIds.length);
      return [
        {
          seqId: step.seqId,
          phase: 'PHASE_PREFILL',
          tokenIds: step.tokenIds,
          positions: Array.from(positions),
          blockPositions: Array.from(blockPositions),
          contextLength: layout.contextLength,
          activations: Buffer.alloc(0),
          sampling: toWireSampling(step.params),
          sampleIndex: step.sampleIndex,
        },
      ];
    }
    return step.entries.map((e) => {
      const layout = this.layouts.get(e.seqId) as PromptLayout;
      const pos = glmPositions(layout, e.index, 1);
      return {
        seqId: e.seqId,
        phase: 'PHASE_DECODE',
        tokenIds: [e.tokenId],
        positions: [pos.positions[0] as number],
        blockPositions: [pos.blockPositions[0] as number],
        contextLength: 0,
        activations: Buffer.alloc(0),
        sampleIndex: e.sampleIndex,
      };
    });
  }

  /** Writes updates to Redis in order, settles finished jobs, releases their caches. */
  private apply(updates: SequenceUpdate[]): void {
    if (updates.length === 0) return;
    const progress = updates.filter((u) => !u.finish);
    const finished = updates.filter((u) => u.finish);
    const released = finished.filter((u) => u.finish?.release).map((u) => u.id);
    for (const u of finished) this.layouts.delete(u.id);
    if (released.length > 0) void this.release(released);
    this.writes = this.writes.then(async () => {
      try {
        await this.store.progress(progress.map((u) => ({ id: u.id, delta: u.delta, text: u.text, tokenIds: u.tokenIds })));
      } catch (err) {
        this.o.log.error('cannot write progress to Redis', { error: err });
      }
      for (const u of finished) await this.settle(u);
    });
    this.reportProgress(progress);
  }

  /** BullMQ job progress ({tokens, characters}), at most every PROGRESS_INTERVAL_MS per job. */
  private reportProgress(updates: SequenceUpdate[]): void {
    const now = Date.now();
    for (const u of updates) {
      const pending = this.jobs.get(u.id);
      if (!pending || now - pending.progressAt < PROGRESS_INTERVAL_MS) continue;
      pending.progressAt = now;
      pending.job.updateProgress({ tokens: u.tokenIds.length, characters: u.text.length }).catch(() => undefined);
    }
  }

  private async settle(u: SequenceUpdate): Promise<void> {
    const pending = this.jobs.get(u.id);
    this.jobs.delete(u.id);
    const finish = u.finish as NonNullable<SequenceUpdate['finish']>;
    try {
      if (finish.reason === 'error') {
        const error = finish.error ?? { code: 'internal', message: 'unknown error' };
        const attempts = pending?.job.opts.attempts ?? 1;
        const lastAttempt = (pending?.job.attemptsMade ?? 0) + 1 >= attempts;
        if (error.retryable && !lastAttempt && !this.closed) {
          pending?.reject(new Error(`${error.code}: ${error.message}`));
          return;
        }
        await this.store.fail(u.id, error.code, error.message);
        pending?.reject(new UnrecoverableError(`${error.code}: ${error.message}`));
        return;
      }
      await this.store.finish({ id: u.id, delta: u.delta, text: u.text, tokenIds: u.tokenIds, finishReason: finish.reason, promptTokens: finish.promptTokens });
      pending?.resolve({ text: u.text, finishReason: finish.reason, promptTokens: finish.promptTokens, completionTokens: u.tokenIds.length });
    } catch (err) {
      this.o.log.error('cannot record the end of a request', { requestId: u.id, error: err });
      pending?.reject(err as Error);
    }
  }

  private async release(seqIds: string[]): Promise<void> {
    try {
      const entries = seqIds.map(releaseEntry);
      const outcome = await this.o.step.run(entries);
      if (this.o.link?.connected && outcome.kind === 'released') this.o.link.send({ stepId: this.releaseStepId++, entries: outcome.entries });
    } catch (err) {
      this.o.log.warn('release failed', { seqIds, error: err });
    }
  }
}
