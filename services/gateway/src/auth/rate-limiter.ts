// Per-key rate limit: at most `perMinute` generation requests per API key and clock minute, counted
// in Redis so that every gateway replica shares one count (a fixed window: INCR on a key that expires
// with its minute). Refused requests get 429 rate_limited with Retry-After: the seconds to the
// window's end.
import type { Redis } from 'ioredis';
import { GatewayError } from '../errors.ts';
import type { ApiClient } from './api-keys.ts';

const WINDOW_MS = 60_000;

export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Requests per key and minute; 0: no limit. */
    private readonly perMinute: number,
  ) {}

  /** Counts one request of `client`; throws rate_limited past the limit. No client or no limit: nothing to count. */
  async admit(client: ApiClient | undefined, now = Date.now()): Promise<void> {
    if (!client || this.perMinute <= 0) return;
    const window = Math.floor(now / WINDOW_MS);
    const key = `${this.prefix}:ratelimit:${client.tag}:${window}`;
    const [[, count]] = (await this.redis.multi().incr(key).pexpire(key, 2 * WINDOW_MS).exec()) as [[Error | null, number], unknown];
    if (count > this.perMinute) {
      const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
      throw new GatewayError('rate_limited', `this API key may send ${this.perMinute} requests a minute; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
  }
}
