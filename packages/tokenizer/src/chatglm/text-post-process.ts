/**
 * The inverse of text-pre-process.ts (docs/model.md §3.5 step 3) and HF's optional English clean-up
 * (step 4).
 */
import { MAX_BLANK_LENGTH, MIN_BLANK_LENGTH, NEWLINE_PIECE, TAB_PIECE, WORD_BOUNDARY } from './special-tokens.ts';

/**
 * One pass over the text. The reference replaces `<n>`, then `<|tab|>`, then each blank length in
 * turn; the result is the same because every replacement is whitespace, which no piece name
 * contains, so no pass can create or break a match for a later one.
 */
const WHITESPACE_PIECES = /<n>|<\|tab\|>|<\|blank_([1-9][0-9]?)\|>/g;

export function postProcessText(text: string): string {
  return text.replace(WHITESPACE_PIECES, (match: string, digits: string | undefined) => {
    if (match === NEWLINE_PIECE) return '\n';
    if (match === TAB_PIECE) return '\t';
    const length = Number(digits);
    // `<|blank_1|>` or `<|blank_81|>` are not pieces; the reference leaves such text alone.
    return length >= MIN_BLANK_LENGTH && length <= MAX_BLANK_LENGTH ? ' '.repeat(length) : match;
  });
}

/**
 * The text one NORMAL, USER_DEFINED or UNUSED piece gives on its own: SentencePiece shows each '▁'
 * as a space, then postProcessText turns `<n>`, `<|tab|>` and `<|blank_k|>` into whitespace.
 * Decoding a whole text gives the concatenation of these, except that SentencePiece drops the
 * space of a '▁' that starts the text, and that postProcessText also matches a whitespace-piece
 * name spelled across several pieces ("<", "n", ">").
 */
export function pieceText(piece: string): string {
  return postProcessText(piece.replaceAll(WORD_BOUNDARY, ' '));
}

/**
 * transformers' `clean_up_tokenization` (slow tokenizers default to it): drops the space that a
 * word-piece decoder leaves before English punctuation and contractions. Applied in the library's
 * order, each as a plain replace-all, since later rules see earlier rules' output.
 */
const CLEAN_UP_RULES: ReadonlyArray<readonly [string, string]> = [
  [' .', '.'],
  [' ?', '?'],
  [' !', '!'],
  [' ,', ','],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

export function cleanUpTokenizationSpaces(text: string): string {
  let out = text;
  for (const [from, to] of CLEAN_UP_RULES) out = out.replaceAll(from, to);
  return out;
}
