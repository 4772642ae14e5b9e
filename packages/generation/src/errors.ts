/**
 * Raised when sampling parameters or generation inputs are out of range. Gateways validate first
 * (zod); this is the last line of defence, so the message names the field and the allowed range.
 */
export class GenerationParamsError extends Error {
  readonly code = 'generation_invalid_params';
  /** Retrying the same request cannot succeed. */
  readonly retryable = false;

  constructor(message: string) {
    super(`generation: ${message}`);
    this.name = 'GenerationParamsError';
  }
}
