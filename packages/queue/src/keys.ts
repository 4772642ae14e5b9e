// Every Redis key and channel the cluster uses, in one place (DESIGN.md §6). All start with a
// configurable prefix (default "chatglm") so several clusters can share one Redis.

export const DEFAULT_PREFIX = 'chatglm';
/** BullMQ queue name; with the prefix its keys are `chatglm:generate:*`. */
export const GENERATE_QUEUE = 'generate';

export class RedisKeys {
  constructor(readonly prefix = DEFAULT_PREFIX) {}

  /** Hash: status, text so far, token ids, finish reason, error, counts and times of one request. */
  request(id: string): string {
    return `${this.prefix}:req:${id}`;
  }

  /** Stream: the request's text deltas and its final (or error) event, in order. */
  events(id: string): string {
    return `${this.prefix}:req:${id}:events`;
  }

  /** String: present once a client has cancelled the request. */
  cancel(id: string): string {
    return `${this.prefix}:req:${id}:cancel`;
  }

  /** Pub/sub channel on which cancellations are announced to the pipeline heads. */
  cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }

  /** Sorted set: pipeline id -> time (ms) of its last heartbeat. */
  pipelines(): string {
    return `${this.prefix}:pipelines`;
  }

  /** Hash: pipeline id -> JSON of what it last reported (scheduler stats). */
  pipelineStats(): string {
    return `${this.prefix}:pipeline-stats`;
  }
}
