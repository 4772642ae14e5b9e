// Every stage's Prometheus metrics (README, "Metrics and monitoring"), the head's own layers included: compute
// time per run of the layers, activation bytes over gRPC, the KV cache's use, the model's load time.
import { Counter, Gauge, Histogram, STEP_SECONDS, type Registry } from '@chatglm/metrics';
import type { StageRuntime } from '@chatglm/runtime';
import type { StepObserver } from '../stage-step.ts';

export class StageMetrics implements StepObserver {
  private readonly forwardSeconds: Histogram<'phase'>;
  private readonly activationBytes: Counter<'direction'>;
  private readonly loadSeconds: Gauge;

  private runtime: StageRuntime | undefined;

  /** Made before the layers load, so that the process can be scraped while they do. */
  constructor(registry: Registry) {
    const registers = [registry];
    this.forwardSeconds = new Histogram({ name: 'chatglm_stage_forward_seconds', help: "Compute time of one run of this stage's layers (and, on the last stage, the final LayerNorm and lm_head), by phase", labelNames: ['phase'], buckets: STEP_SECONDS, registers });
    this.activationBytes = new Counter({ name: 'chatglm_stage_activation_bytes_total', help: 'Activation bytes received from the previous stage or sent to the next one', labelNames: ['direction'], registers });
    // Every series is exported from the start (at 0), so that rates over them have data at once.
    for (const phase of ['prefill', 'decode']) this.forwardSeconds.zero({ phase });
    for (const direction of ['received', 'sent']) this.activationBytes.inc({ direction }, 0);
    this.loadSeconds = new Gauge({ name: 'chatglm_stage_model_load_seconds', help: "From this process's start to its layers being loaded (converting a checkpoint's layers on a first start included)", registers });
    // One read of the runtime serves the KV gauges of a scrape.
    let reading: Promise<Awaited<ReturnType<StageRuntime['capacity']>>> | undefined;
    const capacity = async () => {
      // Nothing is held until the layers have loaded.
      if (!this.runtime) return { activeSequences: 0, maxSequences: 0, cachedTokens: 0, maxTokensPerSequence: 0, kvBytesHeld: 0, kvBytesCommitted: 0, kvTokensCapacity: 0 };
      reading ??= this.runtime.capacity().finally(() => setImmediate(() => (reading = undefined)));
      return reading;
    };
    new Gauge({ name: 'chatglm_stage_kv_slots_used', help: 'KV cache slots held by running sequences', registers, async collect() { this.set((await capacity()).activeSequences); } });
    new Gauge({ name: 'chatglm_stage_kv_slots_total', help: 'KV cache slots (sequences this stage can hold at once)', registers, async collect() { this.set((await capacity()).maxSequences); } });
    new Gauge({ name: 'chatglm_stage_kv_cached_tokens', help: 'Positions cached for the running sequences (prompt and generated tokens)', registers, async collect() { this.set((await capacity()).cachedTokens); } });
    new Gauge({ name: 'chatglm_stage_kv_bytes_held', help: 'Bytes of the KV cache pages the running sequences hold', registers, async collect() { this.set((await capacity()).kvBytesHeld); } });
    new Gauge({ name: 'chatglm_stage_kv_bytes_committed', help: 'Bytes of every KV cache page ever handed out (memory the cache has written and the process keeps; freed pages are reused)', registers, async collect() { this.set((await capacity()).kvBytesCommitted); } });
    new Gauge({ name: 'chatglm_stage_kv_tokens_capacity', help: 'Positions the KV cache holds for all sequences together (--kv-cache-tokens, by default every slot at full length)', registers, async collect() { this.set((await capacity()).kvTokensCapacity); } });
  }

  /** The layers are loaded: from now on the KV gauges read `runtime`. */
  loaded(runtime: StageRuntime, seconds: number): void {
    this.runtime = runtime;
    this.loadSeconds.set(seconds);
  }

  forward(phase: 'prefill' | 'decode', seconds: number): void {
    this.forwardSeconds.observe({ phase }, seconds);
  }

  activations(direction: 'received' | 'sent', bytes: number): void {
    this.activationBytes.inc({ direction }, bytes);
  }
}
