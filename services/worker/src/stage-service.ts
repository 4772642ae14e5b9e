// The gRPC side of a stage other than the head: for each upstream Step stream it opens one stream
// to the next stage (if any), runs each step on its layers in arrival order, and forwards the
// activations down or, on the last stage, replies with the sampled tokens. Replies from downstream
// go back up with this stage's timing prepended. Releases free this stage's caches and go on down.
// When either side of the hop fails, both close and the sequences that came through that stream
// are released, so a reconnecting head starts clean.
import { ChatGlmError, type Logger } from '@chatglm/common';
import type { InfoReply, StageClient, StageInfo, StageTiming, StepChannel, StepReply, StepRequest, StepStream } from '@chatglm/protocol';
import { runStep, type StageStep } from './stage-step.ts';

export interface StageServiceOptions {
  info: StageInfo;
  step: StageStep;
  /** The next stage (absent on the last stage). */
  next: StageClient | null;
  log: Logger;
}

/** What one upstream stream holds: its sequences, the downstream stream and our timings in flight. */
interface Hop {
  upstream: StepStream;
  downstream: StepChannel | null;
  sequences: Set<string>;
  timings: Map<number, StageTiming>;
}

export class StageService {
  constructor(private readonly o: StageServiceOptions) {}

  async info(): Promise<InfoReply> {
    const downstream = this.o.next ? (await this.o.next.info()).stages : [];
    return { stages: [this.o.info, ...downstream] };
  }

  async serve(upstream: StepStream): Promise<void> {
    const log = this.o.log.child({ peer: upstream.peer });
    const hop: Hop = { upstream, downstream: null, sequences: new Set(), timings: new Map() };
    if (this.o.next) {
      const downstream = this.o.next.openStep({
        onReply: (reply: StepReply) => {
          const mine = hop.timings.get(reply.stepId);
          hop.timings.delete(reply.stepId);
          upstream.send({ ...reply, timings: mine ? [mine, ...reply.timings] : reply.timings });
        },
      });
      hop.downstream = downstream;
      void downstream.closed.then((error) => {
        if (upstream.closed) return;
        log.warn('downstream stream closed; closing the upstream stream', { error });
        upstream.fail(error ?? new ChatGlmError('stage_unavailable', `the next stage ${this.o.next?.address} closed its stream`));
      });
    }
    log.info('step stream opened');
    try {
      for await (const message of upstream) {
        // Steps are not awaited: the runtime takes them in arrival order, and a chunked stage lets
        // decode steps that arrive during a long prefill go between its chunks. A release waits
        // for nothing either but reaches the runtime after the steps before it.
        if (message.kind === 'release') await this.release(hop, message.release.seqIds);
        else void this.step(hop, message.step, log).catch((err: unknown) => log.warn('step failed', { error: err }));
        if (hop.downstream?.isClosed) break;
      }
    } finally {
      const orphans = [...hop.sequences];
      await this.o.step.release(orphans).catch(() => undefined);
      if (hop.downstream && !hop.downstream.isClosed && orphans.length > 0) {
        try {
          hop.downstream.sendRelease(orphans);
        } catch {
          // the downstream stream is going away too; its stage releases on its own
        }
      }
      hop.downstream?.end();
      hop.downstream?.close();
      log.info('step stream closed', { released: orphans.length });
    }
  }

  /** Control: free the caches here, then tell the next stage. Never answered. */
  private async release(hop: Hop, seqIds: readonly string[]): Promise<void> {
    for (const id of seqIds) hop.sequences.delete(id);
    await this.o.step.release(seqIds).catch((err) => this.o.log.warn('release failed', { seqIds, error: err }));
    if (!hop.downstream || hop.downstream.isClosed) return;
    try {
      hop.downstream.sendRelease(seqIds);
    } catch {
      // the downstream stream just closed: its stage releases what came through it on its own
    }
  }

  private async step(hop: Hop, request: StepRequest, log: Logger): Promise<void> {
    for (const e of request.entries) if (e.phase === 'PHASE_PREFILL') hop.sequences.add(e.seqId);
    await runStep(this.o.step, request, {
      reply: (reply) => hop.upstream.send(reply),
      forward: (next, timing) => {
        if (!hop.downstream) throw new ChatGlmError('stage_internal', 'this stage forwards activations but has no next stage');
        hop.timings.set(request.stepId, timing);
        hop.downstream.sendStep(next);
      },
    }, log);
  }
}
