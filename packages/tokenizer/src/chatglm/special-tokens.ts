/**
 * ChatGLM-6B's special pieces (docs/model.md §3.2), looked up by name in the model's vocabulary. Ids are
 * never hard-coded: the real model puts them at 130000+, the test model elsewhere.
 */
import { TokenizerError } from '../errors.ts';
import type { Vocabulary } from '../sentencepiece/vocabulary.ts';

/** Longest run of spaces with its own piece (`<|blank_80|>`). */
export const MAX_BLANK_LENGTH = 80;
/** Shortest run of spaces with its own piece (`<|blank_2|>`); a single space stays a space. */
export const MIN_BLANK_LENGTH = 2;

/**
 * SentencePiece's word-boundary mark U+2581 '▁', which stands for a space inside pieces; on its
 * own it is the dummy-prefix piece.
 */
export const WORD_BOUNDARY = '\u2581';
export const NEWLINE_PIECE = '<n>';
export const TAB_PIECE = '<|tab|>';
export const blankPiece = (length: number): string => `<|blank_${length}|>`;
export const bytePiece = (byte: number): string => `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;

export interface ChatGLMSpecialTokens {
  /** `<unk>`. */
  readonly unk: number;
  /** `<pad>`; dropped by decode. */
  readonly pad: number;
  /** `<n>`, what "\n" becomes before SentencePiece. */
  readonly newline: number;
  /** `<|tab|>`, what "\t" becomes. */
  readonly tab: number;
  /**
   * The lone word-boundary piece `▁`: the dummy prefix of "你好" and the id HF's
   * invalid-score logits processor forces.
   */
  readonly dummyPrefix: number;
  /** `[MASK]` (config mask_token_id). */
  readonly mask: number;
  /** `[gMASK]` (config gmask_token_id); appended by encode. */
  readonly gMask: number;
  /** `[sMASK]`. */
  readonly sMask: number;
  /** `<unused_0>`. */
  readonly unused0: number;
  /** `<sop>`, start of piece: the BOS token, appended by encode after `[gMASK]`. */
  readonly sop: number;
  /** `<eop>`, end of piece: the EOS token that stops generation. */
  readonly eop: number;
  /** `<ENC>`. */
  readonly enc: number;
  /** `<dBLOCK>`. */
  readonly dBlock: number;
  /** `<|blank_k|>` ids by run length k, for k = MIN_BLANK_LENGTH..MAX_BLANK_LENGTH. */
  readonly blanks: ReadonlyMap<number, number>;
  /** Byte-fallback piece ids `<0x00>`..`<0xFF>`, indexed by byte value (length 256). */
  readonly bytes: readonly number[];
}

/** Pieces by property name, in the order they are reported when missing. */
const NAMED_PIECES = {
  unk: '<unk>',
  pad: '<pad>',
  newline: NEWLINE_PIECE,
  tab: TAB_PIECE,
  dummyPrefix: WORD_BOUNDARY,
  mask: '[MASK]',
  gMask: '[gMASK]',
  sMask: '[sMASK]',
  unused0: '<unused_0>',
  sop: '<sop>',
  eop: '<eop>',
  enc: '<ENC>',
  dBlock: '<dBLOCK>',
} as const;

/**
 * Resolves every special piece; throws tokenizer_piece_missing naming all absent pieces, so a
 * wrong model file fails at load rather than producing wrong ids later.
 */
export function resolveSpecialTokens(vocab: Vocabulary): ChatGLMSpecialTokens {
  const missing: string[] = [];
  const need = (piece: string): number => {
    const id = vocab.idOf(piece);
    if (id === undefined) {
      missing.push(piece);
      return -1;
    }
    return id;
  };

  const named = Object.fromEntries(
    Object.entries(NAMED_PIECES).map(([name, piece]) => [name, need(piece)]),
  ) as Record<keyof typeof NAMED_PIECES, number>;
  const blanks = new Map<number, number>();
  for (let k = MIN_BLANK_LENGTH; k <= MAX_BLANK_LENGTH; k++) blanks.set(k, need(blankPiece(k)));
  const bytes = Array.from({ length: 256 }, (_, b) => need(bytePiece(b)));

  if (missing.length > 0) {
    const shown = missing.length > 12 ? [...missing.slice(0, 12), `... (${missing.length} in all)`] : missing;
    throw new TokenizerError(
      'tokenizer_piece_missing',
      `the model lacks ChatGLM piece(s) ${shown.join(', ')}; is it ChatGLM-6B's ice_text.model?`,
    );
  }
  return { ...named, blanks, bytes };
}
