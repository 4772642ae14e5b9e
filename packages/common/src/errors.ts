// Errors carry a stable `code` from the one registry (error-codes.ts): the API's error code, a metric
// label, and through the registry the HTTP and gRPC status and whether retrying can succeed. One
// place per interface maps them to a status (the gateway's error handler, the protocol's grpc-status).
import { errorCodeInfo, type ErrorCode } from './error-codes.ts';

export class ChatGlmError extends Error {
  constructor(
    /** Stable machine-readable code, e.g. `invalid_model_config`. */
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** True when the same work may succeed on retry (a dead worker, a full cache): the code says. */
  get retryable(): boolean {
    return errorCodeInfo(this.code).retryable;
  }
}
