// Which pipelines are serving: each head sends a heartbeat; a gateway is ready while at least one
// heartbeat is recent.
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.ts';

/** How often heads announce themselves; a pipeline is live while its last beat is < 3 of these old. */
export const HEARTBEAT_INTERVAL_MS = 1000;

export class PipelineRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly intervalMs = HEARTBEAT_INTERVAL_MS,
  ) {}

  /** Announces the pipeline, with whatever it reports about itself (e.g. its scheduler's stats). */
  async beat(pipelineId: string, stats?: Record<string, unknown>): Promise<void> {
    const now = Date.now();
    const m = this.redis.multi();
    if (stats) m.hset(this.keys.pipelineStats(), pipelineId, JSON.stringify(stats));
    await m
      .zadd(this.keys.pipelines(), now, pipelineId)
      .zremrangebyscore(this.keys.pipelines(), '-inf', now - 60 * this.intervalMs) // forget long-dead pipelines
      .exec();
  }

  async remove(pipelineId: string): Promise<void> {
    await this.redis.zrem(this.keys.pipelines(), pipelineId);
  }

  /** The last stats a pipeline reported with its heartbeat. */
  async stats(pipelineId: string): Promise<Record<string, unknown> | undefined> {
    const raw = await this.redis.hget(this.keys.pipelineStats(), pipelineId);
    return raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
  }

  async live(): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.pipelines(), Date.now() - 3 * this.intervalMs, '+inf');
  }
}
