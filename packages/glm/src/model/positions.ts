// GLM's 2-D positions and the prefix attention mask (docs/model.md §4).
import { ChatGlmError } from '@chatglm/common';

/** Where the prompt's special tokens sit; everything else follows from these two indices. */
export interface PromptLayout {
  /** Index of the first [gMASK] (or [MASK] when there is none): the constant position id of generated tokens. */
  maskPosition: number;
  /** Index of the first <sop>: tokens before it see each other bidirectionally. */
  contextLength: number;
}

/**
 * The ids of [MASK], [gMASK] and <sop>, which fix a prompt's layout and so its positions. The
 * tokenizer hands these out (`ChatGLMTokenizer.promptMarkers`); a GlmConfig fits too.
 */
export interface PromptMarkerIds {
  readonly maskTokenId: number;
  readonly gmaskTokenId: number;
  readonly bosTokenId: number;
}

export function promptLayout(ids: ArrayLike<number>, special: PromptMarkerIds): PromptLayout {
  const list = Array.from(ids);
  const gmask = list.indexOf(special.gmaskTokenId);
  const maskPosition = gmask >= 0 ? gmask : list.indexOf(special.maskTokenId);
  const contextLength = list.indexOf(special.bosTokenId);
  if (maskPosition < 0) throw new ChatGlmError('invalid_prompt', 'prompt ids contain neither [gMASK] nor [MASK]; encode prompts with the ChatGLM tokenizer');
  if (contextLength < 0) throw new ChatGlmError('invalid_prompt', 'prompt ids contain no <sop>; encode prompts with the ChatGLM tokenizer');
  return { maskPosition, contextLength };
}

/** Position id (p) and block position id (q) of the token at absolute index `index` (docs/model.md §4). */
export function positionAt(layout: PromptLayout, index: number): { position: number; blockPosition: number } {
  const beforeSop = index < layout.contextLength;
  return { position: beforeSop ? index : layout.maskPosition, blockPosition: beforeSop ? 0 : index - layout.contextLength + 1 };
}

/** Position ids (p) and block position ids (q) of absolute sequence indices [start, start + count). */
export function glmPositions(layout: PromptLayout, start: number, count: number): { positions: Int32Array; blockPositions: Int32Array } {
  const positions = new Int32Array(count);
  const blockPositions = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const p = positionAt(layout, start + i);
    positions[i] = p.position;
    blockPositions[i] = p.blockPosition;
  }
  return { positions, blockPositions };
}

/**
 * The positions of one running sequence, fixed by its prompt: what a prefill of its first tokens
 * and each later decode step feed the model. Whoever runs a sequence (the pipeline head, an
 * in-process chain) keeps one of these rather than recomputing the layout.
 */
export class SequencePositions {
  private constructor(private readonly layout: PromptLayout) {}

  /** Throws ChatGlmError `invalid_prompt` when the prompt lacks [gMASK]/[MASK] or <sop>. */
  static of(promptIds: ArrayLike<number>, markers: PromptMarkerIds): SequencePositions {
    return new SequencePositions(promptLayout(promptIds, markers));
  }

  /** Index of <sop>: the prefill's bidirectional part (see isBlockedInPrefill). */
  get contextLength(): number {
    return this.layout.contextLength;
  }

  /** Positions of tokens [0, count): a prefill of the prompt and of any resumed tokens. */
  prefill(count: number): { positions: Int32Array; blockPositions: Int32Array } {
    return glmPositions(this.layout, 0, count);
  }

  /** Positions of the single token at absolute index `index` (prompt tokens count first). */
  at(index: number): { position: number; blockPosition: number } {
    return positionAt(this.layout, index);
  }
}

/**
 * The prefill mask: a causal mask whose first `contextLength` columns are visible to every row.
 * So the text and [gMASK] see each other but not <sop>; <sop> and later tokens see everything before them.
 */
export function isBlockedInPrefill(row: number, column: number, contextLength: number): boolean {
  return column > row && column >= contextLength;
}
