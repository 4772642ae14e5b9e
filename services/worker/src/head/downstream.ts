// The rest of a pipeline as the head sees it: the Step stream to stage 1, which DownstreamLink
// keeps open (and a test replaces with a fake).
import type { StepRequest } from '@chatglm/protocol';

export interface Downstream {
  /** False while the stream is down (between a loss and the reconnection). */
  readonly connected: boolean;
  /** Sends a step on; its reply comes back to the head's onReply. Throws while disconnected. */
  sendStep(request: StepRequest): void;
  /** Frees sequences' caches on every later stage; no reply. Throws while disconnected. */
  sendRelease(seqIds: readonly string[]): void;
  /**
   * Gives up on the current stream (a step went unanswered past its deadline): the loss is reported
   * as if the stream had failed, and a new stream is opened. Replies still arriving on the old one
   * are dropped.
   */
  abandonStream(reason: Error): void;
}
