// The one place where errors cross the gRPC boundary. A handler throws (or fails a stream with)
// any error; toStatus gives a ChatGlmError the gRPC status its code has in the error registry
// (@chatglm/common ERROR_CODES) and carries the code itself in a trailer, so the caller rebuilds
// the same error; anything else becomes INTERNAL. fromServiceError does the reverse.
import { ChatGlmError, errorCodeInfo, isErrorCode, type ErrorCode } from '@chatglm/common';
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { StageRpcError } from './errors.ts';

/** Trailer carrying the ChatGlmError code of a failed call. */
export const ERROR_CODE_TRAILER = 'chatglm-error-code';

/** The gRPC status of an error code, as the registry names it. */
export function grpcStatusOf(code: ErrorCode): status {
  return status[errorCodeInfo(code).grpc];
}

/** Maps a handler's error to the status sent to the caller. */
export function toStatus(error: unknown): Partial<StatusObject> & { code: status; details: string } {
  if (error instanceof ChatGlmError) {
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_TRAILER, error.code);
    return { code: grpcStatusOf(error.code), details: error.message, metadata };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: status.INTERNAL, details: `stage internal error: ${message}` };
}

// What a status means for the caller when the stage sent no code of its own (it died, a proxy
// answered, or the call never reached it).
const DERIVED: Partial<Record<status, ErrorCode>> = {
  [status.UNAVAILABLE]: 'stage_unavailable',
  [status.DEADLINE_EXCEEDED]: 'stage_deadline_exceeded',
  [status.CANCELLED]: 'stage_cancelled',
  [status.RESOURCE_EXHAUSTED]: 'stage_resource_exhausted',
  [status.UNIMPLEMENTED]: 'stage_unimplemented',
  [status.INVALID_ARGUMENT]: 'stage_invalid_argument',
  [status.NOT_FOUND]: 'stage_not_found',
};

/** Rebuilds a typed error from a failed call to the stage at `address`. */
export function fromServiceError(error: ServiceError, address: string, what: string): StageRpcError {
  const trailers = error.metadata instanceof Metadata ? error.metadata : undefined;
  const ownCode = trailers?.get(ERROR_CODE_TRAILER)[0];
  const code = isErrorCode(ownCode) ? ownCode : (DERIVED[error.code] ?? 'stage_internal');
  const details = error.details || status[error.code] || 'unknown error';
  return new StageRpcError(code, `${what} on stage ${address} failed (${status[error.code] ?? error.code}): ${details}`, error.code, address, { cause: error });
}
