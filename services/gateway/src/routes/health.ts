// `GET /healthz`: the process serves. `GET /readyz`: Redis answers and at least one pipeline has
// sent a heartbeat recently, i.e. a request accepted now would run.
import { Router, type Response } from 'express';
import { GatewayError } from '../errors.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { withTimeout } from '../with-timeout.ts';

/** How long /readyz waits for Redis before calling it unreachable. */
export const READINESS_REDIS_TIMEOUT_MS = 1000;

export function healthRoutes(ctx: GatewayContext): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    if (ctx.draining()) {
      notReady(res, new GatewayError('shutting_down', 'the gateway is stopping'));
      return;
    }
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
      notReady(res, new GatewayError('redis_unavailable', `redis does not answer: ${(err as Error).message}`));
      return;
    }
    if (pipelines.length === 0) {
      notReady(res, new GatewayError('no_pipeline', 'no pipeline has sent a heartbeat recently'));
      return;
    }
    res.json({ status: 'ready', pipelines });
  });
  return router;
}

/** Readiness answers in its own shape (a status and a reason), with the usual error object beside them. */
function notReady(res: Response, e: GatewayError): void {
  res.status(e.status).json({ status: 'not_ready', reason: e.message, error: { code: e.code, message: e.message, retryable: e.retryable } });
}
