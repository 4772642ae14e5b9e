// `GET /metrics`: the gateway's Prometheus metrics (README, "Metrics and monitoring"), on the API port.
import { Router } from 'express';
import type { GatewayContext } from '../gateway-context.ts';

export function metricsRoutes(ctx: GatewayContext): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const text = await ctx.metrics.registry.metrics();
    res.setHeader('Content-Type', ctx.metrics.registry.contentType);
    res.send(text);
  });
  return router;
}
