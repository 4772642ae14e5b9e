/**
 * HF ChatGLM-6B's `process_response` (docs/model.md §8.3): tidies a decoded reply for display.
 */

/**
 * Python's `str.strip()` whitespace (`str.isspace()`). JavaScript's `trim()` differs: it also
 * strips U+FEFF and keeps U+001C..U+001F and U+0085.
 */
const PY_WHITESPACE = new Set(
  '\t\n\v\f\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005' +
    '\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000',
);

/** Index scans rather than a regex so a long inner run of spaces cannot cost quadratic time. */
function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PY_WHITESPACE.has(text[start]!)) start++;
  while (end > start && PY_WHITESPACE.has(text[end - 1]!)) end--;
  return text.slice(start, end);
}

/** The model writes this placeholder where its training date belongs. */
const TRAINING_TIME_PLACEHOLDER = '[[训练时间]]';
const TRAINING_TIME = '2023年';

/**
 * The tokenizer's NFKC folding turns "，！：；？" into ASCII; these passes put the fullwidth form
 * back where a CJK ideograph (U+4E00..U+9FFF) is directly before (first regex) or after (second)
 * the mark. Order matters: all `,` passes run before the `!` passes, and so on.
 */
const PUNCTUATION_PASSES: ReadonlyArray<readonly [RegExp, string]> = [
  [/([\u4e00-\u9fff]),/g, '$1，'],
  [/,([\u4e00-\u9fff])/g, '，$1'],
  [/([\u4e00-\u9fff])!/g, '$1！'],
  [/!([\u4e00-\u9fff])/g, '！$1'],
  [/([\u4e00-\u9fff]):/g, '$1：'],
  [/:([\u4e00-\u9fff])/g, '：$1'],
  [/([\u4e00-\u9fff]);/g, '$1；'],
  [/;([\u4e00-\u9fff])/g, '；$1'],
  [/([\u4e00-\u9fff])\?/g, '$1？'],
  [/\?([\u4e00-\u9fff])/g, '？$1'],
];

export function processResponse(text: string): string {
  let out = pythonStrip(text).replaceAll(TRAINING_TIME_PLACEHOLDER, TRAINING_TIME);
  for (const [pattern, replacement] of PUNCTUATION_PASSES) out = out.replace(pattern, replacement);
  return out;
}
