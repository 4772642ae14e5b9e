// A client that goes away before its response is complete cancels its request: nobody would read
// the rest, and the pipeline's slot is better spent on someone else.
import type { Response } from 'express';
import type { GatewayContext } from './gateway-context.ts';

/** Aborts when the connection closes before the response has been fully written. */
export function abortOnClientClose(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** Cancels in the background; a failure to cancel is logged, never thrown at a closed response. */
export function cancelRequest(ctx: GatewayContext, id: string, reason: string): void {
  ctx.logger.info('request cancelled', { id, reason });
  ctx.cancellations.cancel(id).catch((err: unknown) => ctx.logger.warn('cancel failed', { id, err }));
}
