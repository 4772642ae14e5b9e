import {
  IncrementalDetokenizer,
  type DecodeFn,
  type DetokenizerOptions,
  type ProcessResponseFn,
} from './incremental-detokenizer.ts';
import { StopStringFilter } from './stop-string-filter.ts';

export interface TextStreamOptions extends DetokenizerOptions {
  readonly decode: DecodeFn;
  readonly processResponse: ProcessResponseFn;
  /** Stop strings (SamplingParams.stop). Default none. */
  readonly stop?: readonly string[];
}

/**
 * The response text of one sequence as deltas: IncrementalDetokenizer followed by StopStringFilter.
 * This is what the pipeline head runs per request to stream text. Invariant: the concatenation of
 * every push() and finish() equals `text` after finish(), which is
 * processResponse(decode(ids)) cut before the first stop string.
 */
export class TextStream {
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly filter: StopStringFilter;
  private shown = '';

  constructor(options: TextStreamOptions) {
    this.detokenizer = new IncrementalDetokenizer(options.decode, options.processResponse, options);
    this.filter = new StopStringFilter(options.stop ?? []);
  }

  /** Adds a generated token (not `<eop>`); returns the new text to show, possibly "". */
  push(tokenId: number): string {
    if (this.filter.stopped) return '';
    return this.show(this.filter.push(this.detokenizer.push(tokenId)));
  }

  /** True once a stop string appeared: the sequence should finish with reason "stop". */
  get stopped(): boolean {
    return this.filter.stopped;
  }

  /** Ends the text; returns its last delta. May find a stop string in the held-back tail. */
  finish(): string {
    if (this.filter.stopped) return '';
    const tail = this.filter.push(this.detokenizer.finish());
    return this.show(tail + this.filter.flush());
  }

  /** Everything shown so far; after finish(), the final response text. */
  get text(): string {
    return this.shown;
  }

  /** False if the tokenizer broke the detokenizer's assumptions (see IncrementalDetokenizer). */
  get consistent(): boolean {
    return this.detokenizer.consistent;
  }

  private show(delta: string): string {
    this.shown += delta;
    return delta;
  }
}
