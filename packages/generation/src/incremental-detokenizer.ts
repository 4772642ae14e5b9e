import { UnstableSuffix } from './unstable-suffix.ts';

/** ids → text, e.g. the tokenizer's decode (ChatGLM: docs/model.md §3.5). */
export type DecodeFn = (ids: number[]) => string;
/** Post-processing of the whole response, e.g. ChatGLM's process_response (docs/model.md §8.3). */
export type ProcessResponseFn = (text: string) => string;

export interface DetokenizerOptions {
  /** Literals decode/processResponse rewrite as a whole. Default CHATGLM_REWRITTEN_LITERALS. */
  readonly rewrittenLiterals?: readonly string[];
}

/**
 * Turns a growing list of token ids into text deltas that never need retracting:
 * the concatenation of every push() and the final finish() equals
 * processResponse(decode(allIds)).
 *
 * Each step re-decodes ALL ids, as HF does (docs/model.md §8.4), because only the whole sequence decodes
 * correctly (dummy-prefix space, byte runs, multi-piece literals). It then emits
 * processResponse(the stable prefix of the decoded text), where the stable prefix leaves out the
 * tail UnstableSuffix says may still change. That is O(n) per token and O(n²) per reply; the
 * test suite measures 2,000 tokens (the whole context) against a ChatGLM-like decode at well under
 * a second. Decoding a window instead would rely on the injected functions being local, which
 * the tokenizer does not promise.
 *
 * Assumption on the injected functions (true for ChatGLM): appending ids only changes the tail of
 * decode's output described in unstable-suffix.ts. If it is ever violated, deltas stop until the
 * text catches up, and `consistent` turns false when the final text does not extend what was sent.
 */
export class IncrementalDetokenizer {
  private readonly ids: number[] = [];
  private readonly suffix: UnstableSuffix;
  private emitted = '';
  private stableRaw = 0;
  private finished = false;
  private agrees = true;
  private readonly decode: DecodeFn;
  private readonly processResponse: ProcessResponseFn;

  constructor(decode: DecodeFn, processResponse: ProcessResponseFn, options: DetokenizerOptions = {}) {
    this.decode = decode;
    this.processResponse = processResponse;
    this.suffix = new UnstableSuffix(options.rewrittenLiterals);
  }

  /** Adds one token; returns the text that became final (often ""). */
  push(tokenId: number): string {
    if (this.finished) throw new Error('IncrementalDetokenizer: push() after finish()');
    this.ids.push(tokenId);
    const raw = this.decode(this.ids);
    const stable = this.suffix.stableLength(raw);
    if (stable <= this.stableRaw) return '';
    this.stableRaw = stable;
    return this.advance(this.processResponse(raw.slice(0, stable)));
  }

  /** Ends the sequence: returns the held-back rest of processResponse(decode(allIds)). */
  finish(): string {
    if (this.finished) return '';
    this.finished = true;
    const text = this.processResponse(this.decode(this.ids));
    if (text.startsWith(this.emitted)) return this.advance(text);
    this.agrees = false;
    let common = 0;
    while (common < text.length && text[common] === this.emitted[common]) common++;
    this.emitted = text;
    return text.slice(common);
  }

  /** The text emitted so far; after finish(), the final text. */
  get text(): string {
    return this.emitted;
  }

  /** The ids pushed so far. */
  get tokenIds(): readonly number[] {
    return this.ids;
  }

  /** False if the final text did not extend the emitted deltas (see the class comment). */
  get consistent(): boolean {
    return this.agrees;
  }

  private advance(text: string): string {
    if (text.length <= this.emitted.length || !text.startsWith(this.emitted)) return '';
    const delta = text.slice(this.emitted.length);
    this.emitted = text;
    return delta;
  }
}
