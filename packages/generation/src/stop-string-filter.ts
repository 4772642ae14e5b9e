/**
 * Cuts a stream of text deltas before the first occurrence of any stop string, and never lets text
 * at or after it out: a tail that could still become a stop string is held until it cannot.
 * Works on final text (IncrementalDetokenizer output), which is append-only, so a match found is
 * a match in the final response.
 */
export class StopStringFilter {
  private readonly stops: readonly string[];
  private readonly longestPrefix: number;
  private pending = '';
  private found = false;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
    this.longestPrefix = Math.max(0, ...this.stops.map((s) => s.length - 1));
  }

  /** True once a stop string was seen; everything from it on is dropped. */
  get stopped(): boolean {
    return this.found;
  }

  /** Takes the next piece of final text; returns what may be shown now. */
  push(delta: string): string {
    if (this.found) return '';
    if (this.stops.length === 0) return delta;
    const text = this.pending + delta;
    let cut = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.found = true;
      this.pending = '';
      return text.slice(0, cut);
    }
    const held = this.heldLength(text);
    this.pending = text.slice(text.length - held);
    return text.slice(0, text.length - held);
  }

  /** The text ended without a stop string: releases what was held. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return this.found ? '' : rest;
  }

  private heldLength(text: string): number {
    for (let n = Math.min(this.longestPrefix, text.length); n > 0; n--) {
      const tail = text.slice(text.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
