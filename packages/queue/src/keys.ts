// Every Redis key and channel the cluster uses, in one place (docs/architecture.md, "Redis"). All
// start with a configurable prefix (default "chatglm") so several clusters can share one Redis.

export const DEFAULT_PREFIX = 'chatglm';
/** BullMQ queue name; with the prefix its keys are `chatglm:generate:*`. */
export const GENERATE_QUEUE = 'generate';

export class RedisKeys {
  constructor(readonly prefix = DEFAULT_PREFIX) {}

  /** Hash: status, finish reason, error, counts and times of one request. */
  request(id: string): string {
    return `${this.prefix}:req:${id}`;
  }

  /** String: the reply's text so far; each step APPENDs its delta, so a write costs its delta only. */
  text(id: string): string {
    return `${this.prefix}:req:${id}:text`;
  }

  /** String: the generated token ids so far, each followed by a comma; APPENDed per step like the text. */
  tokens(id: string): string {
    return `${this.prefix}:req:${id}:tokens`;
  }

  /** Stream: the request's text deltas and its final (or error) event, in order. */
  events(id: string): string {
    return `${this.prefix}:req:${id}:events`;
  }

  /** String: present once a client has cancelled the request. */
  cancel(id: string): string {
    return `${this.prefix}:req:${id}:cancel`;
  }

  /** Sorted set: the SSE followers of a request on any gateway -> when (ms) their entry lapses unless refreshed. */
  followers(id: string): string {
    return `${this.prefix}:req:${id}:followers`;
  }

  /**
   * Sorted set: ids of requests admitted but not yet on the queue -> when (Redis time, ms) they
   * were admitted. Admission counts them with the queued jobs (see Admission).
   */
  admitted(): string {
    return `${this.prefix}:admitted`;
  }

  /**
   * Sorted set: the ids of one caller's (an API key's) requests that may still be unfinished -> when
   * they were admitted; admission drops the ended ones before counting (see Admission).
   */
  unfinished(owner: string): string {
    return `${this.prefix}:unfinished:${owner}`;
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
