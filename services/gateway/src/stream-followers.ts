// Who follows a request's event stream, across every gateway replica. An SSE response keeps an entry
// in the request's followers set while it streams (refreshed, so that a gateway that dies leaves no
// lasting entry); a stream whose client went away is cancelled only if, after a grace period, nobody
// follows it: a client that reconnects with Last-Event-ID, to any replica, keeps its request alive.
import { randomUUID } from 'node:crypto';
import type { RedisKeys } from '@chatglm/queue';
import type { Redis } from 'ioredis';

export class StreamFollowers {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** How often an entry is refreshed; it lapses after two of these without one. */
    private readonly refreshMs: number,
  ) {}

  /** Registers a follower of `id` until the returned function is called. */
  async attach(id: string): Promise<() => Promise<void>> {
    const key = this.keys.followers(id);
    const me = randomUUID();
    const renew = () => this.redis.multi().zadd(key, Date.now() + 2 * this.refreshMs, me).pexpire(key, 4 * this.refreshMs).exec();
    await renew();
    const timer = setInterval(() => void renew().catch(() => undefined), this.refreshMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.redis.zrem(key, me).catch(() => undefined);
    };
  }

  /** Whether anyone (on any replica) follows `id` now. */
  async anyone(id: string): Promise<boolean> {
    const key = this.keys.followers(id);
    const [, [, count]] = (await this.redis.multi().zremrangebyscore(key, '-inf', Date.now()).zcard(key).exec()) as [unknown, [Error | null, number]];
    return count > 0;
  }
}
