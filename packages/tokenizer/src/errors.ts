/**
 * Errors raised by the tokenizer. None is retryable: they all mean the model file or the caller's
 * input is wrong, and trying again gives the same answer.
 */

import { ChatGlmError } from '@chatglm/common';

/** Stable machine-readable reasons, usable as metric labels. */
export type TokenizerErrorCode =
  /** The file is not a SentencePiece ModelProto the library accepts. */
  | 'tokenizer_model_invalid'
  /** The model lacks a piece that ChatGLM needs (e.g. `[gMASK]`). */
  | 'tokenizer_piece_missing'
  /** A token id outside `[0, vocabSize)` was passed to decode / idToPiece. */
  | 'tokenizer_id_out_of_range';

export class TokenizerError extends ChatGlmError {
  declare readonly code: TokenizerErrorCode;

  constructor(code: TokenizerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, `tokenizer: ${message}`, options);
  }
}
