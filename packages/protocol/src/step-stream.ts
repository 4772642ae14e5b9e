// The server side of one Step stream, as handlers see it: messages (steps and releases) as an
// async iterator, send() for replies, and an AbortSignal that fires when the upstream peer goes away. It owns every
// listener on the gRPC call, including 'error', so that a peer that disconnects mid-stream can
// never crash the process with an unhandled 'error' event.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { AsyncQueue } from './async-queue.ts';
import { ProtocolError } from './errors.ts';
import { toStatus } from './grpc-status.ts';
import type { StepMessage, StepReply } from './messages.ts';
import { checkStepId } from './step-id.ts';

/**
 * Requests received but not yet taken by the handler before the stream stops reading from the
 * network (HTTP/2 flow control then slows the sender). Steps in flight are few (micro-batches),
 * so reaching this means the handler has stalled.
 */
export const MAX_BUFFERED_REQUESTS = 64;

export interface StepStream extends AsyncIterable<StepMessage> {
  /**
   * Aborted when the peer cancels or disconnects, or the server shuts down, before the stream
   * ended; its reason is a ProtocolError with code `stream_closed`. Not aborted by end()/fail().
   */
  readonly signal: AbortSignal;
  /** The peer's address, for logs. */
  readonly peer: string;
  /** True once the stream has ended, failed, or the peer is gone. */
  readonly closed: boolean;
  /**
   * Queues one reply. Returns false, and drops it, when the stream is already closed: replies
   * that come back from downstream after the upstream peer left have nowhere to go.
   */
  send(reply: StepReply): boolean;
  /** Ends the stream with OK. Idempotent. */
  end(): void;
  /** Ends the stream with the status for `error` (see grpc-status.ts). Idempotent. */
  fail(error: unknown): void;
}

export class ServerStepStream implements StepStream {
  private readonly controller = new AbortController();
  private readonly queue: AsyncQueue<StepMessage>;
  private finished = false;
  readonly peer: string;

  constructor(private readonly call: ServerDuplexStream<StepMessage, StepReply>) {
    this.peer = call.getPeer();
    this.queue = new AsyncQueue<StepMessage>({
      highWater: MAX_BUFFERED_REQUESTS,
      pause: () => call.pause(),
      resume: () => call.resume(),
    });
    call.on('data', (message: StepMessage) => this.queue.push(message));
    call.on('end', () => this.queue.finish()); // the peer half-closed: no more requests
    call.on('cancelled', () => this.peerGone('the peer cancelled the stream or disconnected'));
    call.on('error', (error: Error) => this.peerGone(`stream error: ${error.message}`));
    call.on('close', () => this.peerGone('the stream closed'));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get closed(): boolean {
    return this.finished;
  }

  [Symbol.asyncIterator](): AsyncIterator<StepMessage> {
    return this.queue[Symbol.asyncIterator]();
  }

  send(reply: StepReply): boolean {
    checkStepId(reply.stepId);
    if (this.finished || this.call.destroyed || this.call.writableEnded) return false;
    this.call.write(reply);
    return true;
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.finish();
    this.call.end();
  }

  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.finish();
    // grpc-js turns an 'error' event on a server stream into the call's final status.
    this.call.emit('error', toStatus(error));
  }

  private peerGone(why: string): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.finish();
    this.controller.abort(new ProtocolError('stream_closed', `Step stream from ${this.peer} closed: ${why}`));
  }
}
