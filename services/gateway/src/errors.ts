// The gateway's errors: a code from the cluster's error registry (@chatglm/common ERROR_CODES),
// which also gives the HTTP status and whether a retry may succeed. Only error-handler.ts turns
// them into responses.
import { ChatGlmError, errorCodeInfo, type ErrorCode } from '@chatglm/common';

export class GatewayError extends ChatGlmError {
  /** Seconds a refused client should wait before trying again (the Retry-After of a 429 or 503); default 1. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(code, message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** HTTP status of the response, from the registry. */
  get status(): number {
    return errorCodeInfo(this.code).http;
  }
}

/** A body, field or parameter the caller got wrong; the message names the field. */
export function invalidRequest(message: string): GatewayError {
  return new GatewayError('invalid_request', message);
}

/** The rendered prompt (plus the tokens asked for) does not fit the model's context. */
export function contextLengthExceeded(message: string): GatewayError {
  return new GatewayError('context_length_exceeded', message);
}

/** Admission: more jobs wait in the queue than the gateway's limit. Retry later. */
export function queueFull(queued: number, limit: number): GatewayError {
  return new GatewayError('queue_full', `the server is busy: ${queued} requests are waiting (limit ${limit}); retry later`);
}

/** Admission: the API key already has `limit` unfinished requests. Retry once one has ended. */
export function concurrencyLimited(limit: number): GatewayError {
  return new GatewayError('concurrency_limited', `this API key may have ${limit} unfinished requests at a time; retry when one has ended`);
}

/** Admission: no pipeline has sent a heartbeat recently, so nothing would run the job. */
export function noPipeline(): GatewayError {
  return new GatewayError('no_pipeline', 'no pipeline is serving the model right now; retry later');
}

export function duplicateRequestId(id: string): GatewayError {
  return new GatewayError('duplicate_request_id', `request_id "${id}" is already in use; choose a new one`);
}

export function requestNotFound(id: string): GatewayError {
  return new GatewayError('request_not_found', `no request with request_id "${id}" (unknown, or expired)`);
}

export function requestTimeout(id: string, ms: number): GatewayError {
  return new GatewayError('request_timeout', `request ${id} did not finish within ${ms} ms; it was cancelled`);
}

/**
 * A pipeline reported the request as failed. The code is the pipeline's, and so is the status: a
 * request the pipeline refuses (e.g. `context_length_exceeded`) is the client's 4xx, a broken
 * pipeline (e.g. `stage_unavailable`, after every retry) a 5xx.
 */
export function generationFailed(code: ErrorCode, message: string): GatewayError {
  return new GatewayError(code, `generation failed: ${message}`);
}
