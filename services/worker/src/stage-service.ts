// The gRPC side of a stage other than the head: for each upstream Step stream it opens one stream
// to the next stage (if any), runs each request on its layers in arrival order, and forwards the
// activations down or, on the last stage, replies with the sampled tokens. Replies from downstream
// go back up with this stage's timing prepended. When either side of the hop fails, both close and
// the sequences that came through that stream are released, so a reconnecting head starts clean.
import { ChatGlmError, type Logger } from '@chatglm/common';
import { StageClient, type InfoReply, type StageInfo, type StageTiming, type StepChannel, type StepReply, type StepRequest, type StepStream } from '@chatglm/protocol';
import { releaseEntry, type StageStep } from './stage-step.ts';

export interface StageServiceOptions {
  info: StageInfo;
  step: StageStep;
  /** The next stage (absent on the last stage). */
  next: StageClient | null;
  log: Logger;
}

export class StageService {
  constructor(private readonly o: StageServiceOptions) {}

  async info(): Promise<InfoReply> {
    const downstream = this.o.next ? (await this.o.next.info()).stages : [];
    return { stages: [this.o.info, ...downstream] };
  }

  async serve(upstream: StepStream): Promise<void> {
    const log = this.o.log.child({ peer: upstream.peer });
    const sequences = new Set<string>();
    const myTimings = new Map<number, StageTiming>();
    let downstream: StepChannel | null = null;
    if (this.o.next) {
      downstream = this.o.next.openStep({
        onReply: (reply: StepReply) => {
          const mine = myTimings.get(reply.stepId);
          myTimings.delete(reply.stepId);
          upstream.send({ ...reply, timings: mine ? [mine, ...reply.timings] : reply.timings });
        },
      });
      void downstream.closed.then((error) => {
        if (upstream.closed) return;
        log.warn('downstream stream closed; closing the upstream stream', { error });
        upstream.fail(error ?? new ChatGlmError('stage_unavailable', `the next stage ${this.o.next?.address} closed its stream`, true));
      });
    }
    log.info('step stream opened');
    try {
      for await (const request of upstream) {
        await this.handle(request, upstream, downstream, sequences, myTimings);
        if (downstream?.isClosed) break;
      }
    } finally {
      for (const seqId of sequences) await this.o.step.run([releaseEntry(seqId)]).catch(() => undefined);
      if (downstream && !downstream.isClosed && sequences.size > 0) {
        try {
          downstream.send({ stepId: 0, entries: [...sequences].map(releaseEntry) });
        } catch {
          // the downstream stream is going away too; its stage releases on its own
        }
      }
      downstream?.end();
      downstream?.close();
      log.info('step stream closed', { released: sequences.size });
    }
  }

  private async handle(request: StepRequest, upstream: StepStream, downstream: StepChannel | null, sequences: Set<string>, myTimings: Map<number, StageTiming>): Promise<void> {
    try {
      const outcome = await this.o.step.run(request.entries);
      for (const e of request.entries) {
        if (e.phase === 'PHASE_PREFILL') sequences.add(e.seqId);
        if (e.phase === 'PHASE_RELEASE') sequences.delete(e.seqId);
      }
      if (outcome.kind === 'sampled') {
        upstream.send({ stepId: request.stepId, results: outcome.results, timings: [outcome.timing] });
      } else if (downstream) {
        myTimings.set(request.stepId, outcome.timing);
        downstream.send({ stepId: request.stepId, entries: outcome.entries });
      } else {
        upstream.send({ stepId: request.stepId, results: [], timings: [outcome.timing] }); // a RELEASE on the last stage
      }
    } catch (err) {
      // The step failed here; the stream and the other sequences go on.
      const e = err instanceof ChatGlmError ? err : new ChatGlmError('stage_internal', String(err instanceof Error ? err.message : err));
      this.o.log.warn('step failed', { stepId: request.stepId, error: e });
      upstream.send({ stepId: request.stepId, results: [], timings: [], error: { code: e.code, message: e.message, retryable: e.retryable } });
    }
  }
}
