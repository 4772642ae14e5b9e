// Errors carry a stable `code` (a metric label and the API's error code) and whether retrying the
// same work elsewhere can succeed. One place per interface maps them to HTTP or gRPC status.

export class ChatGlmError extends Error {
  constructor(
    /** Stable machine-readable code, e.g. `invalid_model_config`. */
    readonly code: string,
    message: string,
    /** True when the same work may succeed on retry (a dead worker, a full cache). */
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
