// Counts and times every HTTP response by route (the route's pattern, never the raw path, so the
// label stays bounded), and notes when each request arrived for the reply metrics.
import type { RequestHandler, Response } from 'express';
import type { GatewayMetrics } from './gateway-metrics.ts';

/** Where a request that matched no route is counted. */
const UNMATCHED_ROUTE = 'unmatched';

export function httpMetrics(metrics: GatewayMetrics): RequestHandler {
  return (req, res, next) => {
    const receivedAt = performance.now();
    res.locals.receivedAt = receivedAt;
    res.once('close', () => {
      const route = typeof req.route?.path === 'string' ? req.route.path : UNMATCHED_ROUTE;
      // A client that left before the response ended is counted under 499, as nginx does.
      const code = res.writableFinished ? String(res.statusCode) : '499';
      const labels = { route, method: req.method, code };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, (performance.now() - receivedAt) / 1000);
    });
    next();
  };
}

/** performance.now() when the request of `res` arrived (set by httpMetrics). */
export function receivedAt(res: Response): number {
  const at = res.locals.receivedAt;
  return typeof at === 'number' ? at : performance.now();
}
