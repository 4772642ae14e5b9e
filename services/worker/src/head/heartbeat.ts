// The head's heartbeat: while its pipeline can serve, it announces itself in the pipeline registry
// (with its scheduler's stats), so gateways know a request accepted now would run.
import type { Logger } from '@chatglm/common';
import { HEARTBEAT_INTERVAL_MS, type PipelineRegistry } from '@chatglm/queue';

export interface HeartbeatOptions {
  registry: PipelineRegistry;
  pipelineId: string;
  /** False while the pipeline cannot serve (its chain is broken): no beat then. */
  serving: () => boolean;
  /** What the pipeline reports about itself with each beat. */
  stats: () => Record<string, unknown>;
  log: Logger;
  /** Default HEARTBEAT_INTERVAL_MS, the interval gateways judge liveness by. */
  intervalMs?: number;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {}

  /** Beats now, then every interval. */
  async start(): Promise<void> {
    await this.beat();
    this.timer ??= setInterval(() => void this.beat(), this.o.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  }

  async beat(): Promise<void> {
    if (this.stopped || !this.o.serving()) return;
    await this.o.registry.beat(this.o.pipelineId, this.o.stats()).catch((err: unknown) => this.o.log.warn('heartbeat failed', { error: err }));
  }

  /** Leaves the registry at once, so gateways stop counting this pipeline (until its next beat). */
  async withdraw(): Promise<void> {
    await this.o.registry.remove(this.o.pipelineId);
  }

  /** Stops beating and leaves the registry. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.withdraw();
  }
}
