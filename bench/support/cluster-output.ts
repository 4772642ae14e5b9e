// What a benchmark's local cluster prints, kept the one way every cluster benchmark needs it: the
// children's lines and the launcher's events, each with when it came (the recovery benchmark
// traces a death with them; the others print the last ones when the cluster does not start), and
// the launcher's events apart (the load benchmark counts the exits).
import type { LocalClusterOptions } from '../../services/cli/src/up/local-cluster.ts';

export class ClusterOutput {
  /** The launcher's events (a process started, exited, restarted), every one. */
  readonly events: string[] = [];
  private readonly lines: { at: number; line: string }[] = [];

  /** `limit`: lines kept, the oldest dropped first (default all). */
  constructor(private readonly limit = Number.POSITIVE_INFINITY) {}

  /** The LocalCluster options that feed it. */
  get listeners(): Pick<LocalClusterOptions, 'onLine' | 'onEvent'> {
    return {
      onLine: (name, _stream, line) => this.keep(`[${name}] ${line}`),
      onEvent: (message) => {
        this.keep(`[launcher] ${message}`);
        this.events.push(message);
      },
    };
  }

  /** The kept lines from `from` (performance.now()) on, one per row; with `from`, each with its time since then. */
  text(from?: number): string {
    const shown = from === undefined ? this.lines : this.lines.filter((l) => l.at >= from);
    return shown.map((l) => (from === undefined ? l.line : `    ${((l.at - from) / 1000).toFixed(3)} s ${l.line}`)).join('\n');
  }

  private keep(line: string): void {
    this.lines.push({ at: performance.now(), line });
    if (this.lines.length > this.limit) this.lines.shift();
  }
}
