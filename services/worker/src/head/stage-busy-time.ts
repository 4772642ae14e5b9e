// How long each stage of the pipeline has spent computing steps, summed from the timings every
// completed step brings back. Against wall time this gives each stage's idle share: how well the
// micro-batches keep a pipeline's stages busy (reported with the heartbeat; `pnpm bench cluster`).
import type { StageTiming } from '@chatglm/protocol';

export class StageBusyTime {
  /** Keyed by the stage's layers, "start-end" (inclusive), in pipeline order. */
  private readonly busyMs = new Map<string, number>();

  add(timings: readonly StageTiming[]): void {
    for (const t of timings) {
      const key = `${t.layerStart}-${t.layerEnd - 1}`;
      this.busyMs.set(key, (this.busyMs.get(key) ?? 0) + t.forwardMs);
    }
  }

  /** Milliseconds of compute per stage since the head started. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.busyMs].map(([k, ms]) => [k, Math.round(ms)]));
  }
}
