// Runs the head's part of each step and sends it on: the head's own layers (a local StageStep),
// then the Step stream to stage 1, or, when the head holds every layer, the reply at once. Also
// sends releases the same two ways. Every reply, or a failure as a reply with an error, goes to
// `onReply`, so the head handles one kind of event whatever happened; a reply from downstream gets
// the head's own timing first, as each stage server puts its own before the later stages'.
import { ChatGlmError, type Logger } from '@chatglm/common';
import type { StageTiming, StepReply, StepRequest } from '@chatglm/protocol';
import { runStep, type StageStep } from '../stage-step.ts';
import type { Downstream } from './downstream.ts';

export interface StepDispatcherOptions {
  /** The head's own layers. */
  step: StageStep;
  /** The rest of the pipeline; null when the head holds every layer. */
  downstream: Downstream | null;
  onReply: (reply: StepReply) => void;
  log: Logger;
}

export class StepDispatcher {
  /** The head's timing of each step sent downstream and when it left, until its reply comes back. */
  private readonly inFlight = new Map<number, { timing: StageTiming; sentAt: number }>();

  constructor(private readonly o: StepDispatcherOptions) {
    if (o.step.role === 'forward' && !o.downstream) throw new ChatGlmError('invalid_pipeline', 'the head does not hold the last layer but has no next stage');
  }

  /** True when steps can go out: no downstream, or its stream is up. */
  get ready(): boolean {
    return !this.o.downstream || this.o.downstream.connected;
  }

  async dispatch(request: StepRequest): Promise<void> {
    await runStep(this.o.step, request, {
      reply: (reply) => {
        // A broken downstream fails every request at once (the head's pipeline-lost path); a step
        // that failed while it was up fails only its own requests.
        if (reply.error && !this.ready) return;
        this.o.onReply(reply);
      },
      forward: (next, timing) => {
        if (!this.o.downstream) throw new ChatGlmError('invalid_pipeline', 'the head has no next stage to send the step to');
        this.o.downstream.sendStep(next);
        this.inFlight.set(request.stepId, { timing, sentAt: performance.now() });
      },
    }, this.o.log);
  }

  /** A reply from the last stage, through the stream: on to `onReply` with the head's timing first. */
  fromDownstream(reply: StepReply): void {
    const mine = this.inFlight.get(reply.stepId)?.timing;
    this.inFlight.delete(reply.stepId);
    this.o.onReply(mine ? { ...reply, timings: [mine, ...reply.timings] } : reply);
  }

  /** The stream broke: the steps in flight will get no reply. */
  forgetInFlight(): void {
    this.inFlight.clear();
  }

  /** How long the oldest step sent downstream has waited for its reply, in ms (0: none waits). */
  oldestInFlightMs(now = performance.now()): number {
    let oldest = now;
    for (const { sentAt } of this.inFlight.values()) oldest = Math.min(oldest, sentAt);
    return now - oldest;
  }

  /** Frees the caches of ended sequences on the head and, when the stream is up, downstream. */
  async release(seqIds: readonly string[]): Promise<void> {
    try {
      await this.o.step.release(seqIds);
      if (this.o.downstream?.connected) this.o.downstream.sendRelease(seqIds);
    } catch (err) {
      this.o.log.warn('release failed', { seqIds, error: err });
    }
  }

  /** Frees the head's own caches only (the rest of the pipeline is gone and freed its own). */
  async releaseLocal(seqIds: readonly string[]): Promise<void> {
    await this.o.step.release(seqIds).catch((err: unknown) => this.o.log.warn('release failed', { seqIds, error: err }));
  }
}
