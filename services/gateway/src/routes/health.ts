// `GET /healthz`: the process serves. `GET /readyz`: Redis answers and at least one pipeline has
// sent a heartbeat recently, i.e. a request accepted now would run.
import { Router } from 'express';
import type { GatewayContext } from '../gateway-context.ts';

/** How long /readyz waits for Redis before calling it unreachable. */
export const READINESS_REDIS_TIMEOUT_MS = 1000;

export function healthRoutes(ctx: GatewayContext): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    let pipelines: string[];
    try {
      pipelines = await withTimeout(
        (async () => {
          await ctx.redis.ping();
          return ctx.registry.live();
        })(),
        READINESS_REDIS_TIMEOUT_MS,
      );
    } catch (err) {
      const message = `redis does not answer: ${(err as Error).message}`;
      res.status(503).json({ status: 'not_ready', reason: message, error: { code: 'redis_unavailable', message } });
      return;
    }
    if (pipelines.length === 0) {
      const message = 'no pipeline has sent a heartbeat recently';
      res.status(503).json({ status: 'not_ready', reason: message, error: { code: 'no_pipeline', message } });
      return;
    }
    res.json({ status: 'ready', pipelines });
  });
  return router;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
