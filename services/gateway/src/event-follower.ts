// Following one request's event stream in Redis until its final or error event. Each follower
// blocks on a connection of its own (a blocking XREAD holds its connection), duplicated from the
// shared one and closed when the follower ends; aborting the signal (the client went away)
// disconnects it at once, which ends a pending read.
import type { Logger } from '@chatglm/common';
import type { RequestStore, StreamedEvent } from '@chatglm/queue';
import type { Redis } from 'ioredis';
import { GatewayError, requestTimeout } from './errors.ts';
import { REDIS_COMMAND_TIMEOUT_MS, isRedisUnavailable } from './gateway-redis.ts';

/**
 * How long a follower rides out Redis not answering before it gives up with redis_unavailable: a
 * restarted Redis (the launcher restarts a dead one within a second or two; its append-only file
 * keeps every record) continues the stream where it was, with keep-alives meanwhile.
 */
export const REDIS_OUTAGE_GRACE_MS = 5000;
/** Pause between reads while Redis does not answer. */
const OUTAGE_RETRY_MS = 250;

/** No event for one poll slice: a chance to send a keep-alive. */
export interface IdleTick {
  type: 'idle';
}

export interface FollowOptions {
  /** Stop (quietly) when this aborts. */
  signal: AbortSignal;
  /** Give up after this many ms in all: throws request_timeout (504). */
  timeoutMs: number;
  /** Start after this stream position (a resumed stream); default the start. */
  after?: string;
}

export class EventFollower {
  readonly #connections = new Set<Redis>();
  #closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly store: RequestStore,
    private readonly sliceMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Yields the request's events in order, ending after the final or error event (which it
   * yields), and an IdleTick after each slice without events. Ends without a terminal event only
   * when the signal aborts.
   */
  async *follow(id: string, { signal, timeoutMs, after: start }: FollowOptions): AsyncGenerator<StreamedEvent | IdleTick> {
    if (this.#closed) throw new GatewayError('shutting_down', 'the gateway is shutting down; retry');
    // Its reads block for up to a slice, so its deadline is a slice longer than other commands'.
    const conn = this.redis.duplicate({ commandTimeout: this.sliceMs + REDIS_COMMAND_TIMEOUT_MS });
    conn.on('error', (err: Error) => this.logger.debug('event reader connection error', { id, err }));
    this.#connections.add(conn);
    const onAbort = () => conn.disconnect();
    signal.addEventListener('abort', onAbort, { once: true });
    const deadline = Date.now() + timeoutMs;
    let after = start ?? '0';
    let outageSince: number | undefined;
    try {
      while (!signal.aborted) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) throw requestTimeout(id, timeoutMs);
        let events: StreamedEvent[];
        let expired = false;
        try {
          events = await this.store.readEvents(id, after, Math.max(1, Math.min(this.sliceMs, remaining)), conn);
          // The hash outlives the stream's last write by the TTL; once it is gone nothing will come.
          if (events.length === 0) expired = !(await this.store.read(id));
          outageSince = undefined;
        } catch (err) {
          if (signal.aborted) return;
          if (this.#closed) throw new GatewayError('shutting_down', 'the gateway is shutting down; the request goes on, but this response ends');
          outageSince ??= Date.now();
          if (!isRedisUnavailable(err) || Date.now() - outageSince >= REDIS_OUTAGE_GRACE_MS) throw err;
          this.logger.debug('Redis does not answer; following again shortly', { id, err });
          yield { type: 'idle' };
          await new Promise((r) => setTimeout(r, OUTAGE_RETRY_MS));
          continue;
        }
        if (expired) throw new GatewayError('request_expired', `request ${id} expired before it finished`);
        if (events.length === 0) {
          yield { type: 'idle' };
          continue;
        }
        for (const e of events) {
          after = e.id;
          yield e;
          if (e.type !== 'delta') return;
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#connections.delete(conn);
      conn.disconnect();
    }
  }

  /** Ends every follower's connection (their responses end with an error). Idempotent. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#connections) conn.disconnect();
    this.#connections.clear();
  }
}
