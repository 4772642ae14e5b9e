// Redis connections. BullMQ needs `maxRetriesPerRequest: null` (its blocking commands must wait
// through reconnects); the same setting suits every long-lived client here.
import { Redis, type RedisOptions } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function connectRedis(url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}

/** Closes a client, falling back to disconnect when QUIT cannot be sent. Idempotent. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
