/**
 * Which tail of decoded text may still change when more tokens arrive (docs/model.md §8.4).
 *
 * The text a chat reply shows is processResponse(decode(ids)), recomputed from all ids at every
 * step (HF stream_chat). For ChatGLM a prefix of the decoded text stays fixed except for its tail:
 *
 *  - U+FFFD: byte-fallback pieces arrive one byte per token; an incomplete UTF-8 sequence decodes
 *    to U+FFFD until its last byte turns it into the real character.
 *  - Whitespace: strip() removes it if nothing else follows.
 *  - `, ! : ; ?`: process_response turns one into its fullwidth form when a CJK character (U+4E00 to
 *    U+9FFF) precedes or follows it. With a CJK character before it the mark is already final.
 *  - `'`: clean-up turns " ' " into "'", but runs its " ." " ?" " !" " ," rules first, so when one
 *    of those marks follows, the space after the apostrophe goes to the mark and " '" comes back.
 *  - A proper prefix of a literal that decode or process_response rewrites as a whole (REWRITTEN
 *    below): `<n>` `<|tab|>` `<|blank_k|>` may be spelled by several pieces, transformers'
 *    clean_up_tokenization_spaces removes the space in " ." " n't" and the like, and
 *    process_response replaces `[[训练时间]]`.
 *
 * These rules are applied repeatedly, since removing one tail exposes another (a space before a
 * pending byte may yet be followed by "." and vanish). Everything before the tail is final, and
 * process_response of a final prefix is itself a prefix of every later response: its rewrites
 * are local (a literal, or a mark and its neighbours) and the prefix ends outside all of them.
 */

/** `<|blank_k|>` stands for k spaces, k = 2…80 (docs/model.md §3.4). */
const BLANK_LITERALS = Array.from({ length: 79 }, (_, i) => `<|blank_${i + 2}|>`);

/** Literals ChatGLM's decode and process_response rewrite as a whole; see the module comment. */
export const CHATGLM_REWRITTEN_LITERALS: readonly string[] = Object.freeze([
  '<n>',
  '<|tab|>',
  ...BLANK_LITERALS,
  // " ." " ?" " !" " ," need no entry: their only proper prefix, a space, is held as whitespace.
  " ' ",
  " n't",
  " 'm",
  " 's",
  " 've",
  " 're",
  '[[训练时间]]',
]);

/** The ASCII marks process_response may turn fullwidth. */
const MARKS = new Set([',', '!', ':', ';', '?']);

export class UnstableSuffix {
  private readonly prefixes = new Set<string>();
  private readonly longestPrefix: number;

  constructor(rewrittenLiterals: readonly string[] = CHATGLM_REWRITTEN_LITERALS) {
    let longest = 0;
    for (const literal of rewrittenLiterals) {
      for (let n = 1; n < literal.length; n++) this.prefixes.add(literal.slice(0, n));
      longest = Math.max(longest, literal.length - 1);
    }
    this.longestPrefix = longest;
  }

  /** Length of the longest prefix of `text` that no later token can change. */
  stableLength(text: string): number {
    let end = text.length;
    for (;;) {
      while (end > 0 && this.unstableChar(text, end - 1)) end--;
      const held = this.partialLiteral(text, end);
      if (held === 0) return end;
      end -= held;
    }
  }

  private unstableChar(text: string, at: number): boolean {
    const c = text.charCodeAt(at);
    if (c === 0xfffd || c === 0x27 || isSpace(c)) return true;
    return MARKS.has(text[at]!) && !(at > 0 && isCjk(text.charCodeAt(at - 1)));
  }

  /** Length of the longest suffix of text[0, end) that is a proper prefix of a literal. */
  private partialLiteral(text: string, end: number): number {
    for (let n = Math.min(this.longestPrefix, end); n > 0; n--) {
      if (this.prefixes.has(text.slice(end - n, end))) return n;
    }
    return 0;
  }
}

export function isCjk(code: number): boolean {
  return code >= 0x4e00 && code <= 0x9fff;
}

/** Python's str.isspace, which strip() uses, plus JavaScript's \s (a superset is safe). */
function isSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d) || (code >= 0x1c && code <= 0x1f);
  return (
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}
