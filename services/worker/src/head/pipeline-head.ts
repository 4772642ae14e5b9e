// The pipeline head's loop (docs/architecture.md, "The pipeline head"): requests come in from the
// queue (JobIntake), the scheduler decides what runs, the dispatcher runs the head's layers and
// sends each step down the chain, and replies become updates: text and tokens written to Redis in
// order (RequestWriter), jobs settled, caches released. No I/O of its own, so it is tested with
// fakes; the scheduler owns every request's state and hands back what the head keeps with it.
//
// Failure model: a request whose step fails with a retryable code goes back to the queue, and its
// next attempt (here once the chain is back, or on another pipeline) resumes from the tokens
// already streamed, so the client sees neither repeated text nor a gap. Other failures are recorded.
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
}

const NO_OBSERVER: HeadObserver = { prefillSent: () => undefined, decodeSent: () => undefined, generated: () => undefined, finished: () => undefined };

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

  constructor(private readonly o: PipelineHeadOptions) {
    this.scheduler = new Scheduler<HeadSequence>(o.scheduler);
    this.observer = o.observer ?? NO_OBSERVER;
  }

  stats(): SchedulerStats {
    return this.scheduler.stats();
  }

  /** Takes a request; it is settled through its handle when it ends. */
  submit(job: HeadJob): void {
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
      // The request is already running here (its job came back while this head still runs it):
      // leave that run alone and let the queue decide about this attempt.
      job.handle.retry(failureOf(err));
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

  /** From now on failures are recorded rather than retried (see failureOutcome); writes go on. */
  stopRetrying(): void {
    this.closing = true;
  }

  private pump(): void {
    if (!this.o.dispatcher.ready) return;
    for (const step of this.scheduler.schedule()) {
      if (step.kind === 'prefill') this.observer.prefillSent();
      else this.observer.decodeSent(step.entries.length);
      void this.o.dispatcher.dispatch(toStepRequest(step));
    }
  }

  /** Writes updates in order, settles ended jobs, releases their caches. */
  private apply(updates: readonly SequenceUpdate<HeadSequence>[]): void {
    if (updates.length === 0) return;
    this.observer.generated(updates.reduce((sum, u) => sum + u.newTokens.length, 0));
    this.o.writer.progress(updates.filter((u) => !u.finish).map(progressOf));
    const released = updates.filter((u) => u.finish?.release).map((u) => u.id);
    if (released.length > 0) void this.o.dispatcher.release(released);
    for (const u of updates) if (u.finish) this.settle(u, u.finish);
  }

  private settle(u: SequenceUpdate<HeadSequence>, finish: NonNullable<SequenceUpdate<HeadSequence>['finish']>): void {
    const { job } = u.context;
    this.observer.finished(finish.reason);
    if (finish.reason === 'error') {
      const failure = finish.error ?? { code: 'internal_error', message: 'the request ended with an error but no cause' };
      if (failureOutcome(failure, job, this.closing) === 'retry') {
        // Nothing is recorded: the next attempt resumes from what is written, so hand it back
        // only once this attempt's writes are all in.
        void this.o.writer.flushed().then(() => job.retry(failure));
        return;
      }
      this.fail(u.id, job, failure);
      return;
    }
    this.o.writer.finish({ ...progressOf(u), finishReason: finish.reason, promptTokens: finish.promptTokens }).then(
      () => job.done(),
      (err: unknown) => {
        this.o.log.error('cannot record the end of a request', { requestId: u.id, error: err });
        job.retry({ code: 'redis_unavailable', message: `the end of the request could not be recorded: ${String(err)}` });
      },
    );
  }

  private fail(id: string, job: JobHandle, failure: StepFailure): void {
    this.o.writer.fail(id, failure.code, failure.message).then(
      () => job.fail(failure),
      (err: unknown) => {
        this.o.log.error('cannot record the failure of a request', { requestId: id, error: err });
        job.fail(failure);
      },
    );
  }
}

function progressOf(u: SequenceUpdate<HeadSequence>): RequestProgress {
  return { id: u.id, delta: u.delta, newTokens: u.newTokens, completionTokens: u.tokenIds.length, withLogprobs: u.context.logprobs !== undefined };
}

function failureOf(err: unknown): StepFailure {
  const code = toErrorCode((err as { code?: unknown } | null)?.code, 'internal_error');
  return { code, message: err instanceof Error ? err.message : String(err) };
}
