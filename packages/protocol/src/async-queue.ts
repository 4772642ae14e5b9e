// A single-consumer queue exposed as an async iterator: the stream wrappers push received
// messages, the consumer pulls them with `for await`. Unlike a Node stream's own iterator it ends
// exactly the way the owner says: `finish()` ends the loop quietly, `finish(error)` makes it throw
// once the buffered messages have been consumed.

export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private failure: { error: unknown } | undefined;
  private iterating = false;

  constructor(
    /**
     * Backpressure: `pause()` when `highWater` items wait unconsumed, `resume()` once one of them
     * is taken (or the consumer leaves its loop).
     */
    private readonly flow?: { highWater: number; pause(): void; resume(): void },
  ) {}

  private paused = false;

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.flow && !this.paused && this.items.length >= this.flow.highWater) {
      this.paused = true;
      this.flow.pause();
    }
  }

  finish(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    if (error !== undefined) this.failure = { error };
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      if (this.failure) w.reject(this.failure.error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterating) throw new Error('this stream can be iterated only once');
    this.iterating = true;
    return {
      next: () => {
        if (this.items.length > 0) {
          const value = this.items.shift() as T;
          this.resumeIfPaused();
          return Promise.resolve({ value, done: false });
        }
        if (this.done) {
          if (this.failure) {
            const { error } = this.failure;
            this.failure = undefined; // throw once, then report done like any finished iterator
            return Promise.reject(error);
          }
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        // The consumer left its loop early: drop what is buffered and stop accepting more.
        this.items.length = 0;
        this.done = true;
        this.failure = undefined;
        this.resumeIfPaused(); // let the transport drain what the consumer will never read
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private resumeIfPaused(): void {
    if (this.flow && this.paused && this.items.length < this.flow.highWater) {
      this.paused = false;
      this.flow.resume();
    }
  }
}
