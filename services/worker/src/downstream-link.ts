// The head's link to the rest of its pipeline: dials stage 1, checks the whole chain (same model
// and protocol, contiguous layers ending at the last one) and keeps one Step stream open. When the
// stream fails it reports the loss once, then reconnects with backoff until the chain is whole again.
import { ChatGlmError, type Logger } from '@chatglm/common';
import { MAX_RECONNECT_BACKOFF_MS, RECONNECT_BACKOFF_MS, StageClient, validateChain, type HeadInfo, type StageInfo, type StepChannel, type StepReply, type StepRequest } from '@chatglm/protocol';
import type { Downstream } from './head/downstream.ts';

export interface DownstreamLinkOptions {
  address: string;
  /** The cluster's stage secret, if it has one. */
  secret: string | undefined;
  head: HeadInfo;
  log: Logger;
  onReply: (reply: StepReply) => void;
  /** Called once per lost stream, before reconnecting. */
  onLost: (error: Error) => void;
  /** Called each time the chain is (re)connected and checked. */
  onConnected: (stages: StageInfo[]) => void;
}

/** While the next stage stays away, "waiting" is logged this often, not at every try. */
const WAITING_LOG_EVERY_MS = 5000;

export class DownstreamLink implements Downstream {
  private readonly client: StageClient;
  private channel: StepChannel | null = null;
  private closed = false;

  constructor(private readonly o: DownstreamLinkOptions) {
    this.client = new StageClient(o.address, { secret: o.secret });
  }

  get connected(): boolean {
    return this.channel !== null && !this.channel.isClosed;
  }

  /** Connects (retrying until `deadlineMs` passes, if given) and checks the chain. */
  async connect(deadlineMs = Infinity): Promise<StageInfo[]> {
    const until = Date.now() + deadlineMs;
    let delay = RECONNECT_BACKOFF_MS; // doubling up to MAX_RECONNECT_BACKOFF_MS (see @chatglm/protocol's limits)
    let loggedAt = -Infinity;
    for (;;) {
      try {
        return await this.connectOnce();
      } catch (err) {
        if (this.closed) throw err;
        const refused = err instanceof ChatGlmError && (err.code === 'invalid_chain' || err.code === 'unauthorized');
        // A wrong chain, or a stage that does not take our secret, will not fix itself by waiting: refuse at once.
        if (refused || Date.now() + delay > until) throw err;
        if (Date.now() - loggedAt >= WAITING_LOG_EVERY_MS) {
          loggedAt = Date.now();
          this.o.log.info('waiting for the next stage', { address: this.o.address, error: err });
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(MAX_RECONNECT_BACKOFF_MS, delay * 2);
      }
    }
  }

  /** Sends a step; throws when the stream is down (the loss is reported through onLost). */
  sendStep(request: StepRequest): void {
    this.open().sendStep(request);
  }

  /** Frees sequences on every downstream stage; throws when the stream is down. */
  sendRelease(seqIds: readonly string[]): void {
    this.open().sendRelease(seqIds);
  }

  private open(): StepChannel {
    if (!this.channel) throw new ChatGlmError('stream_closed', `no Step stream to ${this.o.address}`);
    return this.channel;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channel?.end();
    this.channel?.close();
    this.client.close();
  }

  private async connectOnce(): Promise<StageInfo[]> {
    await this.client.waitForReady(2000);
    const { stages } = await this.client.info();
    validateChain(this.o.head, stages);
    // Each stream is an epoch: a reply is taken only from the stream that is current, so one from a
    // stream given up on (a deadline passed, then a reconnect) can never complete a later step.
    const channel: StepChannel = this.client.openStep({
      onReply: (reply) => {
        if (this.channel === channel) this.o.onReply(reply);
        else this.o.log.debug('dropped a reply from an earlier stream', { stepId: reply.stepId });
      },
    });
    this.channel = channel;
    void channel.closed.then((error) => this.lost(channel, error));
    this.o.onConnected(stages);
    return stages;
  }

  abandonStream(reason: Error): void {
    const channel = this.channel;
    if (!channel) return;
    this.lost(channel, reason);
    channel.close();
  }

  private lost(channel: StepChannel, error: Error | null): void {
    if (this.closed || this.channel !== channel) return;
    this.channel = null;
    this.o.onLost(error ?? new Error(`the Step stream to ${this.o.address} ended`));
    void this.connect().catch((err) => this.o.log.error('cannot reconnect to the pipeline', { error: err }));
  }
}
