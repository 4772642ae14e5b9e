// The gateway's errors: a stable snake_case `code` (the API's error code and a metric label) and
// the HTTP status it maps to. Only error-handler.ts turns them into responses.
import { ChatGlmError } from '@chatglm/common';

export class GatewayError extends ChatGlmError {
  constructor(
    code: string,
    message: string,
    /** HTTP status of the response. */
    readonly status: number,
    retryable = false,
  ) {
    super(code, message, retryable);
  }
}

/** A body, field or parameter the caller got wrong; the message names the field. */
export function invalidRequest(message: string): GatewayError {
  return new GatewayError('invalid_request', message, 400);
}

/** The rendered prompt (plus the tokens asked for) does not fit the model's context. */
export function contextLengthExceeded(message: string): GatewayError {
  return new GatewayError('context_length_exceeded', message, 400);
}

/** Admission: more jobs wait in the queue than the gateway's limit. Retry later. */
export function queueFull(queued: number, limit: number): GatewayError {
  return new GatewayError('queue_full', `the server is busy: ${queued} requests are waiting (limit ${limit}); retry later`, 429, true);
}

/** Admission: no pipeline has sent a heartbeat recently, so nothing would run the job. */
export function noPipeline(): GatewayError {
  return new GatewayError('no_pipeline', 'no pipeline is serving the model right now; retry later', 503, true);
}

export function duplicateRequestId(id: string): GatewayError {
  return new GatewayError('duplicate_request_id', `request_id "${id}" is already in use; choose a new one`, 409);
}

export function requestNotFound(id: string): GatewayError {
  return new GatewayError('request_not_found', `no request with request_id "${id}" (unknown, or expired)`, 404);
}

export function requestTimeout(id: string, ms: number): GatewayError {
  return new GatewayError('request_timeout', `request ${id} did not finish within ${ms} ms; it was cancelled`, 504, true);
}

/** A pipeline reported the request as failed; the code is the pipeline's (e.g. `stage_unavailable`). */
export function generationFailed(code: string, message: string): GatewayError {
  return new GatewayError(code, `generation failed: ${message}`, 500, true);
}
