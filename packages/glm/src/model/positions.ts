// GLM's 2-D positions and the prefix attention mask (spec §4).
import { ChatGlmError } from '@chatglm/common';

/** Where the prompt's special tokens sit; everything else follows from these two indices. */
export interface PromptLayout {
  /** Index of the first [gMASK] (or [MASK] when there is none): the constant position id of generated tokens. */
  maskPosition: number;
  /** Index of the first <sop>: tokens before it see each other bidirectionally. */
  contextLength: number;
}

export interface SpecialIds {
  maskTokenId: number;
  gmaskTokenId: number;
  bosTokenId: number;
}

export function promptLayout(ids: ArrayLike<number>, special: SpecialIds): PromptLayout {
  const list = Array.from(ids);
  const gmask = list.indexOf(special.gmaskTokenId);
  const maskPosition = gmask >= 0 ? gmask : list.indexOf(special.maskTokenId);
  const contextLength = list.indexOf(special.bosTokenId);
  if (maskPosition < 0) throw new ChatGlmError('invalid_prompt', 'prompt ids contain neither [gMASK] nor [MASK]; encode prompts with the ChatGLM tokenizer');
  if (contextLength < 0) throw new ChatGlmError('invalid_prompt', 'prompt ids contain no <sop>; encode prompts with the ChatGLM tokenizer');
  return { maskPosition, contextLength };
}

/** Position ids (p) and block position ids (q) of absolute sequence indices [start, start + count). */
export function glmPositions(layout: PromptLayout, start: number, count: number): { positions: Int32Array; blockPositions: Int32Array } {
  const positions = new Int32Array(count);
  const blockPositions = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const j = start + i;
    const beforeSop = j < layout.contextLength;
    positions[i] = beforeSop ? j : layout.maskPosition;
    blockPositions[i] = beforeSop ? 0 : j - layout.contextLength + 1;
  }
  return { positions, blockPositions };
}

/**
 * The prefill mask: a causal mask whose first `contextLength` columns are visible to every row.
 * So the text and [gMASK] see each other but not <sop>; <sop> and later tokens see everything before them.
 */
export function isBlockedInPrefill(row: number, column: number, contextLength: number): boolean {
  return column > row && column >= contextLength;
}
