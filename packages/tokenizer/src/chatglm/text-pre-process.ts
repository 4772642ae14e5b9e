/**
 * ChatGLM's text rewriting before SentencePiece (docs/model.md §3.4 step 2). The vocabulary has pieces for
 * newline, tab and runs of spaces, which plain SentencePiece would lose or split, so the text
 * spells them as those pieces' literal names first.
 */
import { MAX_BLANK_LENGTH, NEWLINE_PIECE, TAB_PIECE, blankPiece } from './special-tokens.ts';

/**
 * Greedy runs of 2..80 spaces. Replacing each match equals the reference's "for k = 80 down to 2,
 * replace every k spaces": a run of 80q + r spaces becomes q × blank_80 then blank_r (r >= 2) or
 * a single space (r = 1).
 */
const SPACE_RUN = new RegExp(` {2,${MAX_BLANK_LENGTH}}`, 'g');

export function preProcessText(text: string): string {
  return text
    .replaceAll('\n', NEWLINE_PIECE)
    .replaceAll('\t', TAB_PIECE)
    .replace(SPACE_RUN, (run) => blankPiece(run.length));
}
