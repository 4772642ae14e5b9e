// Cancelling a request (a client closed its SSE connection, or asked to). A key records it for a
// head that has not taken the job yet; a pub/sub message reaches the heads already running it.
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.ts';
import { DEFAULT_REQUEST_TTL_SECONDS } from './request-ttl.ts';

export class Cancellations {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds = DEFAULT_REQUEST_TTL_SECONDS,
  ) {}

  async cancel(id: string): Promise<void> {
    await this.redis.multi().set(this.keys.cancel(id), '1', 'EX', this.ttlSeconds).publish(this.keys.cancelChannel(), id).exec();
  }

  async isCancelled(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.cancel(id))) === 1;
  }

  /**
   * Calls `onCancel(id)` for every cancellation announced from now on. `subscriber` must be a
   * connection of its own (a subscribed connection can do nothing else). Returns the unsubscribe.
   */
  static async subscribe(subscriber: Redis, keys: RedisKeys, onCancel: (id: string) => void): Promise<() => Promise<void>> {
    const channel = keys.cancelChannel();
    const listener = (ch: string, message: string) => {
      if (ch === channel) onCancel(message);
    };
    subscriber.on('message', listener);
    await subscriber.subscribe(channel);
    return async () => {
      subscriber.off('message', listener);
      await subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }
}
