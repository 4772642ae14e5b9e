import { ChatGlmError } from '@chatglm/common';

/**
 * Raised when sampling parameters or generation inputs are out of range. Gateways validate first
 * (zod); this is the last line of defence, so the message names the field and the allowed range.
 * Code `invalid_sampling_params`: a 400, never retryable.
 */
export class GenerationParamsError extends ChatGlmError {
  constructor(message: string) {
    super('invalid_sampling_params', `generation: ${message}`);
  }
}
