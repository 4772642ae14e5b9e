/**
 * The test model's normalisation rules: the part of NFKC that ChatGLM's vectors exercise.
 * ChatGLM's real model folds fullwidth "，！：" to ASCII (docs/model.md §3.3). We fold the whole
 * Halfwidth-and-Fullwidth-Forms ASCII block U+FF01..U+FF5E to U+0021..U+007E and the ideographic
 * space U+3000 to a space, exactly as NFKC does for these characters. A fixed list (rather than
 * String.prototype.normalize over all of Unicode) keeps the model's bytes independent of the
 * Node/ICU version.
 */
import type { CharsmapRule } from '../sentencepiece/precompiled-charsmap.ts';

const FULLWIDTH_FIRST = 0xff01;
const FULLWIDTH_LAST = 0xff5e;
/** Distance between a fullwidth form and its ASCII character. */
const FULLWIDTH_SHIFT = 0xff01 - 0x21;

export function fullwidthFoldingRules(): CharsmapRule[] {
  const rules: CharsmapRule[] = [];
  for (let cp = FULLWIDTH_FIRST; cp <= FULLWIDTH_LAST; cp++) {
    rules.push({ from: String.fromCodePoint(cp), to: String.fromCodePoint(cp - FULLWIDTH_SHIFT) });
  }
  rules.push({ from: '\u3000', to: ' ' });
  return rules;
}
