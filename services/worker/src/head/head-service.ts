// The pipeline head as a running service: the PipelineHead loop wired to its queue (JobIntake), its
// heartbeat, its Redis writer and its dispatcher, and to the events of its link to stage 1. This
// is where a broken chain stops the intake and the heartbeat, and a restored one starts them again.
import { closeAll, type Logger } from '@chatglm/common';
import type { PromptMarkerIds } from '@chatglm/glm';
import type { StageInfo, StepReply } from '@chatglm/protocol';
import { PipelineRegistry, RedisKeys, RequestStore } from '@chatglm/queue';
import type { StageRuntime } from '@chatglm/runtime';
import type { SchedulerOptions } from '@chatglm/scheduler';
import type { Redis } from 'ioredis';
import type { StageStep } from '../stage-step.ts';
import type { Registry } from '@chatglm/metrics';
import { HeadMetrics } from '../metrics/head-metrics.ts';
import type { Downstream } from './downstream.ts';
import { Heartbeat } from './heartbeat.ts';
import { JobIntake } from './job-intake.ts';
import { kvPageBudget } from './kv-page-budget.ts';
import { PipelineHead, type StepReport } from './pipeline-head.ts';
import { RequestWriter } from './request-writer.ts';
import { StageBusyTime } from './stage-busy-time.ts';
import { StepDispatcher } from './step-dispatcher.ts';

export interface HeadServiceOptions {
  pipelineId: string;
  runtime: StageRuntime;
  /** The head's own layers. */
  step: StageStep;
  /** The rest of the pipeline (null when the head holds every layer) and its stages' Info. */
  downstream: Downstream | null;
  downstreamStages: readonly StageInfo[];
  markers: PromptMarkerIds;
  text: SchedulerOptions['text'];
  redis: Redis;
  redisPrefix: string;
  /** Decode micro-batches in flight; default the number of stages. */
  microBatches: number | undefined;
  lockDurationMs: number;
  /** A step sent downstream and not answered within this long means a hung stage: the stream is dropped. */
  stepTimeoutMs: number;
  maxStalledCount: number;
  onStep?: (report: StepReport) => void;
  /** Where the head's metrics go (the process's registry); none: not measured. */
  metrics?: Registry;
  log: Logger;
}

export class HeadService {
  private readonly head: PipelineHead;
  private readonly dispatcher: StepDispatcher;
  private readonly writer: RequestWriter;
  private readonly intake: JobIntake;
  private readonly heartbeat: Heartbeat;
  private readonly busy = new StageBusyTime();
  /** Sequences every stage can hold at once: the pipeline's capacity. */
  readonly capacity: number;
  private closing: Promise<void> | undefined;
  /** Whether requests wait for KV pages as well as slots (see kv-page-budget.ts). */
  private readonly admitsByPages: boolean;
  private readonly watchdog: NodeJS.Timeout;

  private constructor(private readonly o: HeadServiceOptions) {
    const { info } = o.runtime;
    const stages = [{ maxSequences: info.maxSequences, maxTokensPerSequence: info.maxTokensPerSequence, kvPages: info.kvPages, kvPageSize: info.kvPageSize }, ...o.downstreamStages];
    this.capacity = Math.min(...stages.map((s) => s.maxSequences));
    const kvPages = kvPageBudget(stages, info.prefixLength);
    this.admitsByPages = kvPages !== undefined;
    this.writer = new RequestWriter(new RequestStore(o.redis, o.redisPrefix), o.log, {
      onRefused: (owners) => this.head.abandonAttempts(owners, { kind: 'stale' }),
      onLost: (owners, err) => this.head.abandonAttempts(owners, { kind: 'lost', failure: { code: 'redis_unavailable', message: `progress could not be written to Redis: ${String(err)}` } }),
    });
    const metrics = o.metrics ? new HeadMetrics(o.metrics, () => this.head.stats(), this.capacity) : undefined;
    this.dispatcher = new StepDispatcher({ step: o.step, downstream: o.downstream, onReply: (reply) => this.afterwards(() => this.head.onReply(reply)), log: o.log });
    this.head = new PipelineHead({
      scheduler: {
        maxRunning: this.capacity,
        maxTokensPerSequence: Math.min(...stages.map((s) => s.maxTokensPerSequence)),
        ...(kvPages && { kvPages }),
        microBatches: o.microBatches ?? stages.length,
        text: o.text,
      },
      markers: o.markers,
      dispatcher: this.dispatcher,
      writer: this.writer,
      log: o.log,
      ...(metrics && { observer: metrics }),
      onStep: (report) => {
        this.busy.add(report.timings);
        o.onStep?.(report);
      },
    });
    this.intake = new JobIntake({
      redis: o.redis,
      prefix: o.redisPrefix,
      pipelineId: o.pipelineId,
      concurrency: this.capacity,
      lockDurationMs: o.lockDurationMs,
      maxStalledCount: o.maxStalledCount,
      submit: (job) => this.afterwards(() => this.head.submit(job)),
      cancel: (id) => this.afterwards(() => this.head.cancel(id)),
      abandon: (id, attempt) => this.head.abandonAttempts([{ id, attempt }], { kind: 'stale' }),
      ...(metrics && { observer: metrics }),
      log: o.log,
    });
    this.heartbeat = new Heartbeat({
      registry: new PipelineRegistry(o.redis, new RedisKeys(o.redisPrefix)),
      pipelineId: o.pipelineId,
      serving: () => this.dispatcher.ready,
      // statsAt: when these figures were taken, so that a reader can turn busy time into a share.
      stats: () => ({ ...this.head.stats(), stageBusyMs: this.busy.snapshot(), statsAt: Date.now() }),
      log: o.log,
    });
    // The per-step deadline: a stage that stops answering (frozen, deadlocked, its host gone
    // without closing the connection) would otherwise hold its requests forever.
    this.watchdog = setInterval(() => this.checkStepDeadline(), Math.min(1000, o.stepTimeoutMs / 2));
    this.watchdog.unref();
  }

  /**
   * Runs `change` (a job, a reply or a cancellation reaching the head), then, when requests wait
   * for KV pages, takes no more jobs until they are admitted: a job another pipeline could run now
   * would wait here. With slots alone the queue's concurrency already keeps jobs from waiting.
   */
  private afterwards(change: () => void): void {
    change();
    if (!this.admitsByPages) return;
    const { waiting, running } = this.head.stats();
    this.intake.setConcurrency(waiting > 0 ? Math.max(1, waiting + running) : this.capacity);
  }

  static async start(o: HeadServiceOptions): Promise<HeadService> {
    const service = new HeadService(o);
    await service.intake.start();
    await service.heartbeat.start();
    o.log.info('pipeline serving', { pipelineId: o.pipelineId, capacity: service.capacity, stages: 1 + o.downstreamStages.length });
    return service;
  }

  /** Whether the whole pipeline is connected, so that jobs taken now would run. */
  get serving(): boolean {
    return this.dispatcher.ready && !this.closing;
  }

  /** A reply from the last stage (through the link). */
  onReply(reply: StepReply): void {
    this.dispatcher.fromDownstream(reply);
  }

  /** The link to stage 1 broke: stop taking jobs, leave the registry, end the running requests. */
  onPipelineLost(error: Error): void {
    this.o.log.warn('pipeline lost; failing its requests for retry', { error });
    this.intake.pause();
    this.dispatcher.forgetInFlight();
    void this.heartbeat.withdraw().catch(() => undefined);
    this.head.onPipelineLost(error);
  }

  /** The chain is whole again: take jobs again. */
  onPipelineRestored(): void {
    if (this.closing) return;
    this.intake.resume();
    void this.heartbeat.beat();
    this.head.onPipelineRestored();
    this.o.log.info('pipeline restored', { pipelineId: this.o.pipelineId });
  }

  /**
   * Leaves the registry, stops taking jobs, hands the running ones back to the queue once their
   * progress is written (another pipeline resumes them at once, or this one after its restart),
   * then closes. Every step runs even when one fails. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.watchdog);
      this.intake.pause();
      this.head.handBackAll();
      await closeAll([() => this.heartbeat.stop(), () => this.intake.close(), () => this.writer.flushed()]);
    })();
    return this.closing;
  }

  private checkStepDeadline(): void {
    const waited = this.dispatcher.oldestInFlightMs();
    if (waited <= this.o.stepTimeoutMs || !this.o.downstream) return;
    const error = new Error(`a step went unanswered for ${Math.round(waited)} ms (the deadline is ${this.o.stepTimeoutMs} ms); dropping the stream`);
    this.o.log.error('step deadline passed', { waitedMs: Math.round(waited), stepTimeoutMs: this.o.stepTimeoutMs });
    this.o.downstream.abandonStream(error);
  }
}
