// The one place that turns errors into responses: `{error: {code, message, retryable}}` with the
// status the error registry gives the code (500 internal_error for anything unexpected, whose
// details stay in the log).
// The original stream API (/chat, /get_response) answers `{code, msg}` as its clients expect,
// with the same HTTP status and the `error` object beside it.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ChatGlmError, type Logger } from '@chatglm/common';
import { GatewayError } from './errors.ts';
import { isRedisUnavailable } from './gateway-redis.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';

/** Paths of the original stream API, whose errors keep its numeric `{code, msg}` shape. */
export const STREAM_API_PATHS: ReadonlySet<string> = new Set(['/chat', '/get_response']);

/** The stream API's numeric codes (0 is success). */
export const STREAM_API_CODES = {
  success: 0,
  busy: 100,
  duplicateRequestId: 101,
  unknownRequestId: 102,
  invalidRequest: 103,
  serverError: 104,
} as const;

export function streamApiCode(e: GatewayError): number {
  if (e.status === 429) return STREAM_API_CODES.busy;
  if (e.code === 'duplicate_request_id') return STREAM_API_CODES.duplicateRequestId;
  if (e.code === 'request_not_found') return STREAM_API_CODES.unknownRequestId;
  return e.status < 500 ? STREAM_API_CODES.invalidRequest : STREAM_API_CODES.serverError;
}

/** Any thrown value -> a GatewayError (what the client sees). */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (isRedisUnavailable(err)) return new GatewayError('redis_unavailable', 'Redis does not answer (or is full); retry later', { cause: err });
  // Another part of the cluster raised it (the tokenizer, the sampling parameters): its code says it all.
  if (err instanceof ChatGlmError) return new GatewayError(err.code, err.message, { cause: err });
  // body-parser's errors carry `type` and `status`.
  const e = err as { type?: unknown; status?: unknown; message?: unknown; limit?: unknown };
  if (e && typeof e === 'object' && typeof e.type === 'string' && typeof e.status === 'number') {
    if (e.type === 'entity.parse.failed') return new GatewayError('invalid_json', `the request body is not valid JSON: ${String(e.message)}`);
    if (e.type === 'entity.too.large') return new GatewayError('payload_too_large', `the request body is larger than the limit of ${String(e.limit)} bytes`);
    if (e.status >= 400 && e.status < 500) return new GatewayError('invalid_request', `the request body could not be read: ${String(e.message)}`);
  }
  return new GatewayError('internal_error', 'internal error; the gateway log has the details');
}

export function errorHandler(logger: Logger, metrics: GatewayMetrics): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = toGatewayError(err);
    metrics.errors.inc({ code: e.code });
    if (e.status >= 500) logger.error('request failed', { method: req.method, path: req.path, code: e.code, err });
    else logger.debug('request refused', { method: req.method, path: req.path, code: e.code, message: e.message });
    if (res.headersSent) {
      // Too late for a status (an SSE stream is open): end the response.
      res.end();
      return;
    }
    if (e.status === 429 || e.status === 503) res.setHeader('Retry-After', String(e.retryAfterSeconds ?? 1));
    if (e.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    const error = { code: e.code, message: e.message, retryable: e.retryable };
    if (STREAM_API_PATHS.has(req.path)) res.status(e.status).json({ code: streamApiCode(e), msg: e.message, error });
    else res.status(e.status).json({ error });
  };
}

export const notFound: RequestHandler = (req) => {
  throw new GatewayError('not_found', `no route for ${req.method} ${req.path}`);
};
