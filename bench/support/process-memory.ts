// The resident memory of other processes over time, read from /proc/<pid>/status (Linux): VmRSS
// (resident now) and VmHWM (the peak, "high water mark", since the process started).
import fs from 'node:fs';

export interface ProcessMemory {
  rssBytes: number;
  peakBytes: number;
}

/** One reading of every watched process; a process that has gone (or restarted under a new pid) is absent. */
export interface MemorySample {
  /** performance.now() of the reading. */
  at: number;
  byName: Map<string, ProcessMemory>;
}

/** undefined when the process does not exist (or /proc is not there). */
export function readProcessMemory(pid: number): ProcessMemory | undefined {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  const rss = kib('VmRSS');
  const peak = kib('VmHWM');
  return Number.isFinite(rss) && Number.isFinite(peak) ? { rssBytes: rss * 1024, peakBytes: peak * 1024 } : undefined;
}

/**
 * Reads every process `processes()` names every `everyMs` until stopped. The list is asked for at
 * each reading, so that a restarted child is followed under its new pid.
 */
export class MemorySampler {
  readonly samples: MemorySample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly processes: () => { name: string; pid: number | undefined }[],
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.read();
    this.timer ??= setInterval(() => this.read(), this.everyMs);
  }

  /** Takes a last reading and stops. Idempotent. */
  stop(): MemorySample | undefined {
    if (!this.timer) return this.samples.at(-1);
    clearInterval(this.timer);
    this.timer = undefined;
    return this.read();
  }

  /** The reading taken nearest to `at` (performance.now()). */
  nearest(at: number): MemorySample | undefined {
    let best: MemorySample | undefined;
    for (const s of this.samples) if (!best || Math.abs(s.at - at) < Math.abs(best.at - at)) best = s;
    return best;
  }

  /** A reading now, beside the periodic ones (at a moment that matters, say). */
  read(): MemorySample {
    const byName = new Map<string, ProcessMemory>();
    for (const p of this.processes()) {
      const m = p.pid === undefined ? undefined : readProcessMemory(p.pid);
      if (m) byName.set(p.name, m);
    }
    const s = { at: performance.now(), byName };
    this.samples.push(s);
    return s;
  }
}
