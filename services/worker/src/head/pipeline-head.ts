// The pipeline head's loop (docs/architecture.md, "The pipeline head"): requests come in from the
// queue (JobIntake), the scheduler decides what runs, the dispatcher runs the head's layers and
// sends each step down the chain, and replies become updates: text and tokens written to Redis in
// order (RequestWriter), jobs settled, caches released. No I/O of its own, so it is tested with
// fakes; the scheduler owns every request's state and hands back what the head keeps with it.
//
// Failure model: a request whose step fails with a retryable code goes back to the queue, and its
// next attempt (here once the chain is back, or on another pipeline) resumes from the tokens
// already streamed, so the client sees neither repeated text nor a gap. Other failures are recorded.
// An attempt that lost its job (its writes refused, its lock lapsed) or whose writes could not be
// made, or that is handed back because the head stops, is abandoned: it leaves the scheduler and
// its job is settled without anything more written for it.
import { toErrorCode, type Logger } from '@chatglm/common';
import { SequencePositions, type PromptMarkerIds } from '@chatglm/glm';
import type { FinishReason, SamplingParams } from '@chatglm/generation';
import type { StageTiming, StepReply } from '@chatglm/protocol';
import type { RequestProgress } from '@chatglm/queue';
import { Scheduler, type SchedulerOptions, type SchedulerStats, type SequenceUpdate, type StepFailure } from '@chatglm/scheduler';
import type { HeadSequence } from './head-sequence.ts';
import type { JobHandle } from './job-handle.ts';
import type { RequestWriter } from './request-writer.ts';
import { failureOutcome } from './retry-policy.ts';
import type { StepDispatcher } from './step-dispatcher.ts';
import { toStepRequest } from './wire-step.ts';

/** A request as the intake hands it over: what to generate and the job to settle. */
export interface HeadJob {
  id: string;
  promptIds: readonly number[];
  params: SamplingParams;
  /** Tokens an earlier attempt already streamed. */
  resumeFrom: readonly number[];
  /** Alternatives per token to report when the client asked for logprobs; undefined otherwise. */
  logprobs: number | undefined;
  handle: JobHandle;
}

/** What a completed step reports: the per-stage forward times, for whoever watches the pipeline. */
export interface StepReport {
  stepId: number;
  sequences: number;
  /** One per stage the step went through, the head first. */
  timings: readonly StageTiming[];
}

/** What the head tells whoever watches it (its metrics). */
export interface HeadObserver {
  prefillSent(): void;
  decodeSent(sequences: number): void;
  /** Tokens that steps' replies brought (resumed tokens are not generated again). */
  generated(tokens: number): void;
  /** A sequence left the scheduler. */
  finished(reason: FinishReason): void;
  /** Running sequences were preempted for want of KV pages (they are prefilled again later). */
  preempted(sequences: number): void;
}

/** Why an attempt is abandoned, which decides how its job is settled. */
export type Abandonment =
  /** It lost the job: a newer attempt claimed the request, or its lock lapsed. Nothing is settled. */
  | { kind: 'stale' }
  /** Its writes failed after every retry: the queue runs it again from what was written. */
  | { kind: 'lost'; failure: StepFailure }
  /** The head stops: back to the queue once its writes are in, without using an attempt. */
  | { kind: 'handBack' };

const NO_OBSERVER: HeadObserver = { prefillSent: () => undefined, decodeSent: () => undefined, generated: () => undefined, finished: () => undefined, preempted: () => undefined };

export interface PipelineHeadOptions {
  scheduler: SchedulerOptions;
  /** The prompt's marker ids, which fix each sequence's positions. */
  markers: PromptMarkerIds;
  /** Created by the caller with `onReply: (r) => head.onReply(r)`. */
  dispatcher: StepDispatcher;
  writer: RequestWriter;
  log: Logger;
  /** Gets every completed step's per-stage timings (metrics, logs). */
  onStep?: (report: StepReport) => void;
  observer?: HeadObserver;
}

export class PipelineHead {
  private readonly scheduler: Scheduler<HeadSequence>;
  private readonly observer: HeadObserver;
  private closing = false;
  /** Requests whose current attempt is abandoned, until it leaves the scheduler. */
  private readonly abandoned = new Map<string, Abandonment>();
  /** A newer attempt at a request whose older attempt still runs here, waiting for it to leave. */
  private readonly successors = new Map<string, HeadJob>();
  /** Releases of preempted requests' caches under way: their next prefill goes out once it is done. */
  private readonly releasing = new Map<string, Promise<void>>();

  constructor(private readonly o: PipelineHeadOptions) {
    this.scheduler = new Scheduler<HeadSequence>(o.scheduler);
    this.observer = o.observer ?? NO_OBSERVER;
  }

  stats(): SchedulerStats {
    return this.scheduler.stats();
  }

  /** Takes a request; it is settled through its handle when it ends. */
  submit(job: HeadJob): void {
    if (this.closing) {
      job.handle.handBack();
      return;
    }
    if (this.scheduler.has(job.id)) {
      // The job came back while an older attempt still runs here (its lock lapsed while Redis or
      // this head was paused). The new attempt has claimed the request, so the old one can write
      // nothing more: end it, and run the new one (from what was written) once it has left.
      this.successors.get(job.id)?.handle.abandon();
      this.successors.set(job.id, job);
      this.abandon(job.id, { kind: 'stale' });
      return;
    }
    let positions: SequencePositions;
    let updates: SequenceUpdate<HeadSequence>[];
    try {
      positions = SequencePositions.of(job.promptIds, this.o.markers);
    } catch (err) {
      this.fail(job.id, job.handle, failureOf(err));
      return;
    }
    try {
      updates = this.scheduler.submit({ id: job.id, promptIds: job.promptIds, params: job.params, resumeFrom: job.resumeFrom, context: { positions, job: job.handle, logprobs: job.logprobs } });
    } catch (err) {
      this.fail(job.id, job.handle, failureOf(err));
      return;
    }
    this.apply(updates);
    this.pump();
  }

  /** A client cancelled; unknown ids are ignored. */
  cancel(id: string): void {
    this.apply(this.scheduler.cancel(id));
    this.pump();
  }

  /** A step came back from the last stage (or from the head itself). */
  onReply(reply: StepReply): void {
    let updates: SequenceUpdate<HeadSequence>[];
    try {
      updates = reply.error
        ? this.scheduler.fail(reply.stepId, { code: toErrorCode(reply.error.code, 'stage_internal'), message: reply.error.message })
        : this.scheduler.complete(reply.stepId, reply.results.map((r) => ({ seqId: r.seqId, tokenId: r.tokenId, logprob: r.logprob, topLogprobs: r.topLogprobs ?? [] })));
    } catch (err) {
      // A reply for a step the head already gave up on (the pipeline broke meanwhile).
      this.o.log.warn('reply for an unknown step', { stepId: reply.stepId, error: err });
      return;
    }
    if (!reply.error) this.o.onStep?.({ stepId: reply.stepId, sequences: reply.results.length, timings: reply.timings });
    this.apply(updates);
    this.pump();
  }

  /** The rest of the pipeline broke: every request ends now, and retryable ones go back to the queue. */
  onPipelineLost(error: Error): void {
    const updates = this.scheduler.failAll({ code: 'pipeline_lost', message: `the pipeline broke: ${error.message}` });
    // The other stages dropped their caches with the stream; the head frees its own.
    void this.o.dispatcher.releaseLocal(updates.map((u) => u.id));
    this.apply(updates);
  }

  /** The chain is whole again: send what waits. */
  onPipelineRestored(): void {
    this.pump();
  }

  /**
   * Ends attempts without writing anything more for them (see Abandonment), when the request is
   * still run by that attempt here; others are ignored.
   */
  abandonAttempts(owners: readonly { id: string; attempt?: string }[], how: Abandonment): void {
    for (const { id, attempt } of owners) {
      const running = this.scheduler.contextOf(id);
      if (running && (attempt === undefined || running.job.attempt === attempt)) this.abandon(id, how);
    }
  }

  /**
   * The head stops: every request goes back to the queue (another pipeline resumes it from what is
   * written), and jobs that still arrive go straight back.
   */
  handBackAll(): void {
    this.closing = true;
    for (const id of this.scheduler.ids()) this.abandon(id, { kind: 'handBack' });
  }

  private abandon(id: string, how: Abandonment): void {
    if (!this.scheduler.has(id) || this.abandoned.has(id)) return;
    this.abandoned.set(id, how);
    this.apply(this.scheduler.cancel(id));
    this.pump();
  }

  private pump(): void {
    if (!this.o.dispatcher.ready) return;
    const steps = this.scheduler.schedule();
    this.releasePreempted(this.scheduler.takePreempted());
    for (const step of steps) {
      if (step.kind === 'prefill') this.observer.prefillSent();
      else this.observer.decodeSent(step.entries.length);
      const request = toStepRequest(step);
      // A preempted request prefilled again: every stage must have freed its old cache first
      // (releases and steps reach each stage in the order they are sent).
      const released = step.kind === 'prefill' ? this.releasing.get(step.seqId) : undefined;
      if (released) void released.then(() => this.o.dispatcher.dispatch(request));
      else void this.o.dispatcher.dispatch(request);
    }
  }

  /** Frees the caches of requests the scheduler preempted for want of KV pages; they wait to be prefilled again. */
  private releasePreempted(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.observer.preempted(ids.length);
    this.o.log.debug('preempted for want of KV pages; they will be prefilled again', { requestIds: ids });
    const done = this.o.dispatcher.release(ids);
    for (const id of ids) this.releasing.set(id, done);
    void done.then(() => {
      for (const id of ids) if (this.releasing.get(id) === done) this.releasing.delete(id);
    });
  }

  /** Writes updates in order, settles ended jobs, releases their caches. */
  private apply(updates: readonly SequenceUpdate<HeadSequence>[]): void {
    if (updates.length === 0) return;
    this.observer.generated(updates.reduce((sum, u) => sum + u.newTokens.length, 0));
    this.o.writer.progress(updates.filter((u) => !u.finish && !this.abandoned.has(u.id)).map(progressOf));
    const released = updates.filter((u) => u.finish?.release).map((u) => u.id);
    if (released.length > 0) void this.o.dispatcher.release(released);
    for (const u of updates) {
      if (!u.finish) continue;
      const abandoned = this.abandoned.get(u.id);
      this.abandoned.delete(u.id);
      if (abandoned) this.settleAbandoned(u.id, u.context.job, abandoned);
      else this.settle(u, u.finish);
      const successor = this.successors.get(u.id);
      this.successors.delete(u.id);
      if (successor) this.submit(successor);
    }
  }

  private settleAbandoned(id: string, job: JobHandle, how: Abandonment): void {
    this.o.writer.forget({ id, attempt: job.attempt });
    if (how.kind === 'stale') job.abandon();
    else if (how.kind === 'lost') job.retry(how.failure);
    else void this.o.writer.flushed().then(() => job.handBack());
  }

  private settle(u: SequenceUpdate<HeadSequence>, finish: NonNullable<SequenceUpdate<HeadSequence>['finish']>): void {
    const { job } = u.context;
    this.observer.finished(finish.reason);
    if (finish.reason === 'error') {
      const failure = finish.error ?? { code: 'internal_error', message: 'the request ended with an error but no cause' };
      if (failureOutcome(failure, job) === 'retry') {
        // Nothing is recorded: the next attempt resumes from what is written, so hand it back
        // only once this attempt's writes are all in.
        void this.o.writer.flushed().then(() => job.retry(failure));
        return;
      }
      this.fail(u.id, job, failure);
      return;
    }
    void this.o.writer.finish({ ...progressOf(u), finishReason: finish.reason, promptTokens: finish.promptTokens }).then((written) => {
      if (written === 'written') job.done();
      else if (written === 'refused') job.abandon();
      else job.retry({ code: 'redis_unavailable', message: 'the end of the request could not be recorded in Redis' });
    });
  }

  private fail(id: string, job: JobHandle, failure: StepFailure): void {
    void this.o.writer.fail(id, failure.code, failure.message, job.attempt).then((written) => {
      if (written === 'refused') job.abandon();
      else job.fail(failure);
    });
  }
}

function progressOf(u: SequenceUpdate<HeadSequence>): RequestProgress {
  return { id: u.id, delta: u.delta, newTokens: u.newTokens, completionTokens: u.tokenIds.length, withLogprobs: u.context.logprobs !== undefined, attempt: u.context.job.attempt };
}

function failureOf(err: unknown): StepFailure {
  const code = toErrorCode((err as { code?: unknown } | null)?.code, 'internal_error');
  return { code, message: err instanceof Error ? err.message : String(err) };
}
