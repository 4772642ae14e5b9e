// The gateway's Redis connection. Every command has a deadline: a Redis that is down or paused makes
// requests fail with 503 redis_unavailable within seconds instead of waiting for it without bound
// (the shared queue client would otherwise hold commands through every reconnect).
import { connectRedis } from '@chatglm/queue';
import type { Redis } from 'ioredis';

/** How long a gateway waits for one Redis command (a blocking read: its block time plus this). */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

export function connectGatewayRedis(url: string): Redis {
  return connectRedis(url, { commandTimeout: REDIS_COMMAND_TIMEOUT_MS });
}

/** Whether `err` is ioredis saying Redis did not answer (timed out, disconnected, refused), or Redis refusing a write because it is full (maxmemory with noeviction). */
export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET') return true;
  return typeof e.message === 'string' && /^(Command timed out|Connection is closed|Stream isn't writeable|OOM )/.test(e.message);
}
