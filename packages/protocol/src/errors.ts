// Errors raised by this package. Local mistakes (bad bytes, a broken chain) are ProtocolErrors;
// failures of a call to another stage are StageRpcErrors, which keep the gRPC status and the
// address so that the head can say which hop broke. Whether a retry may succeed follows from the
// code (@chatglm/common ERROR_CODES), like every ChatGlmError.
import { ChatGlmError, type ErrorCode } from '@chatglm/common';

/**
 * Codes: `invalid_activations`, `invalid_dtype`, `invalid_chain`, `invalid_step_id`,
 * `stream_closed`, `server_closed`, `client_closed`, `listen_failed`.
 */
export class ProtocolError extends ChatGlmError {}

/** A refused pipeline; `problems` lists every reason, the message joins them. */
export class ChainError extends ProtocolError {
  constructor(readonly problems: readonly string[]) {
    super('invalid_chain', `the pipeline's stages do not form one model: ${problems.join('; ')}`);
  }
}

/**
 * A call to a stage failed. `code` is the stage's own ChatGlmError code when it sent one (in the
 * `chatglm-error-code` trailer), else one derived from the gRPC status (`stage_unavailable`,
 * `stage_deadline_exceeded`, `stage_cancelled`, `stage_internal`, ...).
 */
export class StageRpcError extends ChatGlmError {
  constructor(
    code: ErrorCode,
    message: string,
    /** The numeric gRPC status code (see `@grpc/grpc-js` `status`). */
    readonly grpcCode: number,
    /** host:port of the stage that was called. */
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
