// Progress of long work on the terminal: a bar redrawn in place when stderr is a terminal, a line
// every few seconds otherwise (a log file or a pipe gets no carriage returns). Either way the last
// state is shown when the work ends.
import { describeConversion, type ConversionSnapshot } from '@chatglm/glm';

/** How often a redirected output gets a progress line. */
export const PROGRESS_LINE_EVERY_MS = 5000;
/** How often the bar is redrawn: often enough to look alive, rarely enough to cost nothing. */
const REDRAW_EVERY_MS = 100;
const BAR_WIDTH = 24;

export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export class ProgressDisplay {
  private lastShown = -Infinity;
  private drawn = false;
  /** The latest state, until it is shown. */
  private unshown: ConversionSnapshot | undefined;

  constructor(
    /** Names the work on each line, e.g. the bundle being written. */
    private readonly label: string,
    private readonly out: ProgressOutput = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {}

  show(s: ConversionSnapshot): void {
    this.unshown = s;
    const t = this.now();
    if (t - this.lastShown < (this.out.isTTY ? REDRAW_EVERY_MS : PROGRESS_LINE_EVERY_MS)) return;
    this.render(s);
    this.lastShown = t;
  }

  /** The work ended: its last state is shown, and a bar's line ended. */
  end(): void {
    if (this.unshown) this.render(this.unshown);
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private render(s: ConversionSnapshot): void {
    this.unshown = undefined;
    if (!this.out.isTTY) {
      this.out.write(`${this.label}: ${describeConversion(s)}\n`);
      return;
    }
    const filled = Math.round(s.fraction * BAR_WIDTH);
    // \r back to the line's start, \x1b[K clears what a longer earlier line left.
    this.out.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${describeConversion(s)}\x1b[K`);
    this.drawn = true;
  }
}
