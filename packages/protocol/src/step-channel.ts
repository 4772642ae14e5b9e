// The client side of one Step stream: send steps and releases down, get replies back (to a callback
// or an async iterator), and learn through `closed` when the stream or the connection fails, so that
// the head can fail its in-flight steps and reconnect. Owns every listener on the gRPC call,
// including 'error', so a stage that dies mid-stream never crashes the caller's process.
import { ChatGlmError } from '@chatglm/common';
import { status, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { AsyncQueue } from './async-queue.ts';
import { ProtocolError } from './errors.ts';
import { fromServiceError } from './grpc-status.ts';
import type { StepMessage, StepReply, StepRequest } from './messages.ts';
import { checkStepId } from './step-id.ts';

export interface StepChannelOptions {
  /**
   * Receives every reply, in arrival order. When given, replies are not buffered and the channel
   * cannot be iterated. If it throws, the channel is cancelled and `closed` reports the error.
   */
  onReply?: (reply: StepReply) => void;
}

export class StepChannel implements AsyncIterable<StepReply> {
  /**
   * Resolves (never rejects) once the stream is over: null when it ended cleanly (the stage
   * finished with OK, or close() was called here), otherwise the error: a StageRpcError for a
   * failed stream or connection (code `stage_unavailable` when the stage died), whose `retryable`
   * tells whether another pipeline may succeed.
   */
  readonly closed: Promise<ChatGlmError | null>;
  private resolveClosed!: (error: ChatGlmError | null) => void;
  private readonly replies = new AsyncQueue<StepReply>();
  private readonly onReply: ((reply: StepReply) => void) | undefined;
  private over = false;
  private cancelledHere = false;

  constructor(
    private readonly call: ClientDuplexStream<StepMessage, StepReply>,
    /** host:port of the stage, for error messages. */
    readonly address: string,
    options: StepChannelOptions = {},
  ) {
    this.onReply = options.onReply;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    call.on('data', (reply: StepReply) => this.deliver(reply));
    call.on('error', (error: ServiceError) => {
      // Our own cancel() surfaces as a CANCELLED error: that is a clean end, not a failure.
      if (this.cancelledHere && error.code === status.CANCELLED) this.finish(null);
      else this.finish(fromServiceError(error, address, 'Step stream'));
    });
    call.on('status', (s: StatusObject) => {
      if (s.code === status.OK) this.finish(null);
    });
    // A stream that closes without a status (should not happen) must still settle `closed`.
    call.on('close', () => this.finish(new ProtocolError('stream_closed', `Step stream to ${address} closed without a status`)));
  }

  /** True once the stream is over (see `closed`). */
  get isClosed(): boolean {
    return this.over;
  }

  /**
   * Sends one step; its reply comes back with the same step id. Throws a retryable ProtocolError
   * `stream_closed` when the stream is over (then `closed` says why), and `invalid_step_id` for a
   * step id that is not a safe integer.
   */
  sendStep(request: StepRequest): void {
    checkStepId(request.stepId);
    this.write({ kind: 'step', step: request });
  }

  /** Frees sequences' caches on the stage and downstream; no reply. Throws like sendStep. */
  sendRelease(seqIds: readonly string[]): void {
    this.write({ kind: 'release', release: { seqIds: [...seqIds] } });
  }

  private write(message: StepMessage): void {
    if (this.over || this.call.writableEnded) {
      throw new ProtocolError('stream_closed', `Step stream to ${this.address} is closed; open a new one`);
    }
    this.call.write(message);
  }

  /** Half-closes: no more requests; replies to those in flight still arrive. Idempotent. */
  end(): void {
    if (!this.over && !this.call.writableEnded) this.call.end();
  }

  /** Cancels the stream at once; `closed` resolves with null. Idempotent. */
  close(): void {
    if (this.over) return;
    this.cancelledHere = true;
    this.call.cancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<StepReply> {
    if (this.onReply) throw new Error('this Step channel delivers replies to its onReply callback; it cannot be iterated');
    return this.replies[Symbol.asyncIterator]();
  }

  private deliver(reply: StepReply): void {
    if (this.over) return;
    if (!this.onReply) {
      this.replies.push(reply);
      return;
    }
    try {
      this.onReply(reply);
    } catch (error) {
      this.finish(new ChatGlmError('reply_handler_failed', `the onReply callback for ${this.address} threw: ${String(error)}`, { cause: error }));
      this.call.cancel();
    }
  }

  private finish(error: ChatGlmError | null): void {
    if (this.over) return;
    this.over = true;
    this.replies.finish(error ?? undefined); // iterating consumers see the same error, thrown
    this.resolveClosed(error);
  }
}
