// The one place where errors cross the gRPC boundary. A handler throws (or fails a stream with)
// any error; toStatus turns a ChatGlmError into a fitting status code and carries its own code and
// retryable flag in trailers, so the caller can rebuild the same error; anything else becomes
// INTERNAL. fromServiceError does the reverse on the client side.
import { ChatGlmError } from '@chatglm/common';
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { StageRpcError } from './errors.ts';

/** Trailer carrying the ChatGlmError code of a failed call. */
export const ERROR_CODE_TRAILER = 'chatglm-error-code';
/** Trailer carrying '1' when retrying the failed work elsewhere may succeed. */
export const RETRYABLE_TRAILER = 'chatglm-retryable';

// ChatGlmError codes with a more precise status than the retryable/not-retryable default.
const STATUS_BY_CODE: Readonly<Record<string, status>> = {
  invalid_argument: status.INVALID_ARGUMENT,
  invalid_request: status.INVALID_ARGUMENT,
  invalid_activations: status.INVALID_ARGUMENT,
  invalid_step_id: status.INVALID_ARGUMENT,
  unknown_sequence: status.NOT_FOUND,
  kv_capacity: status.RESOURCE_EXHAUSTED,
  not_ready: status.UNAVAILABLE,
  cancelled: status.CANCELLED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  not_implemented: status.UNIMPLEMENTED,
};

/** Maps a handler's error to the status sent to the caller. */
export function toStatus(error: unknown): Partial<StatusObject> & { code: status; details: string } {
  if (error instanceof ChatGlmError) {
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_TRAILER, error.code);
    metadata.set(RETRYABLE_TRAILER, error.retryable ? '1' : '0');
    const code = STATUS_BY_CODE[error.code] ?? (error.retryable ? status.UNAVAILABLE : status.FAILED_PRECONDITION);
    return { code, details: error.message, metadata };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: status.INTERNAL, details: `stage internal error: ${message}` };
}

// What a status means for the caller when the stage sent no ChatGlmError code of its own.
const DERIVED: Partial<Record<status, { code: string; retryable: boolean }>> = {
  [status.UNAVAILABLE]: { code: 'stage_unavailable', retryable: true },
  [status.DEADLINE_EXCEEDED]: { code: 'stage_deadline_exceeded', retryable: true },
  [status.CANCELLED]: { code: 'stage_cancelled', retryable: true },
  [status.RESOURCE_EXHAUSTED]: { code: 'stage_resource_exhausted', retryable: true },
  [status.UNIMPLEMENTED]: { code: 'stage_unimplemented', retryable: false },
  [status.INVALID_ARGUMENT]: { code: 'stage_invalid_argument', retryable: false },
  [status.NOT_FOUND]: { code: 'stage_not_found', retryable: false },
};

/** Rebuilds a typed error from a failed call to the stage at `address`. */
export function fromServiceError(error: ServiceError, address: string, what: string): StageRpcError {
  const trailers = error.metadata instanceof Metadata ? error.metadata : undefined;
  const ownCode = trailers?.get(ERROR_CODE_TRAILER)[0];
  const ownRetryable = trailers?.get(RETRYABLE_TRAILER)[0];
  const derived = DERIVED[error.code] ?? { code: 'stage_internal', retryable: false };
  const code = typeof ownCode === 'string' ? ownCode : derived.code;
  const retryable = typeof ownRetryable === 'string' ? ownRetryable === '1' : derived.retryable;
  const details = error.details || status[error.code] || 'unknown error';
  return new StageRpcError(code, `${what} on stage ${address} failed (${status[error.code] ?? error.code}): ${details}`, retryable, error.code, address, {
    cause: error,
  });
}
