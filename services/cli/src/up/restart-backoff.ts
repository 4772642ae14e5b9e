// How long the launcher waits before restarting a child that died: not at all the first time (with
// one pipeline, a dead stage's streams wait for its restart), then doubling from half a second to
// 30 s while it keeps crashing, and back to the start once it has run (ready) for a minute, so that
// a process that crashed now and then over days is not restarted as slowly as one in a crash loop.

/** The wait before the second restart in a row; the first is immediate. */
export const BACKOFF_FIRST_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
/** A child ready for this long has recovered: its next crash starts the backoff over. */
export const STABLE_AFTER_MS = 60_000;

export class RestartBackoff {
  /** Crashes since the child last ran stably. */
  private crashes = 0;
  private readySince: number | undefined;

  /** The child announced it is ready. */
  ready(now: number): void {
    this.readySince = now;
  }

  /** The child died: how long to wait before starting it again. */
  nextDelayMs(now: number): number {
    if (this.readySince !== undefined && now - this.readySince >= STABLE_AFTER_MS) this.crashes = 0;
    this.readySince = undefined;
    const delay = this.crashes === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(this.crashes - 1, 6));
    this.crashes += 1;
    return delay;
  }
}
