// The one error type of the checkpoint readers; its message names the file and, where it applies,
// the tensor, so that a user can tell which download is damaged.
import { ChatGlmError } from '@chatglm/common';

export class CheckpointError extends ChatGlmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_checkpoint', message, options);
  }
}
