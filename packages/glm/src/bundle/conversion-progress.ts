// How far a stage's conversion is, and how long the rest should take. The bundle writer reports each
// tensor it writes (BundleProgress); the share of the work done is estimated from the parameters the
// written tensors hold, which the model's shape gives: the embedding (first stage), twelve tensors per
// layer in a fixed order, the final LayerNorm and the tied lm_head (last stage; a float one shares the
// embedding's tensor when one stage holds both). Bytes written are not the measure, since a quantized
// tensor writes fewer bytes than it costs to quantize.
import type { GlmConfig } from '../config.ts';
import type { LayerRange } from '../model/layer-ranges.ts';
import type { QuantizationOptions } from '../model/stage-tensors.ts';
import type { BundleProgress } from './write-bundle.ts';

/**
 * A layer's linears in the order the writer places them, with the parameters done once each is
 * written, in units of hidden² (a layer's LayerNorms and biases are too small to count).
 */
const LAYER_STEPS: readonly (readonly [fragment: string, doneAfter: number])[] = [
  ['attention.query_key_value.', 3],
  ['attention.dense.', 4],
  ['mlp.dense_h_to_4h.', 8],
  ['mlp.dense_4h_to_h.', 12],
];
const LAYER_UNITS = 12;

export interface ConversionSnapshot {
  /** Share of the stage's parameters written, 0..1. */
  fraction: number;
  /** What the writer is at: "embedding", "layer 5 (3 of 14)", "lm_head". */
  at: string;
  tensors: number;
  bytes: number;
  elapsedSeconds: number;
  /** Bytes written per second so far. */
  bytesPerSecond: number;
  /** Seconds left at the pace so far; undefined until there is a pace to go by. */
  secondsLeft: number | undefined;
}

export class ConversionProgress {
  /** Parameters of the embedding or the lm_head, in hidden² units. */
  private readonly vocabUnits: number;
  private readonly total: number;
  private layerSeen = false;
  private done = 0;
  private at = 'starting';

  private readonly startedAt: number;

  constructor(
    config: Pick<GlmConfig, 'vocabSize' | 'hiddenSize' | 'numLayers'>,
    private readonly range: LayerRange,
    /** The conversion's quantization (whether a one-stage lm_head is a tensor of its own); when it started (performance.now()). */
    options: { quantization?: QuantizationOptions; startedAt?: number } = {},
  ) {
    this.startedAt = options.startedAt ?? performance.now();
    this.vocabUnits = config.vocabSize / config.hiddenSize;
    const isFirst = range.start === 0;
    const isLast = range.end === config.numLayers;
    const floatEmbedding = (options.quantization?.embedding ?? 'none') === 'none';
    const first = isFirst ? this.vocabUnits : 0;
    const last = isLast && !(isFirst && floatEmbedding) ? this.vocabUnits : 0;
    this.total = first + (range.end - range.start) * LAYER_UNITS + last;
  }

  /** Takes the writer's report of one more tensor and says where the conversion stands. */
  update(p: BundleProgress, now = performance.now()): ConversionSnapshot {
    const firstUnits = this.range.start === 0 ? this.vocabUnits : 0;
    if (p.layer !== undefined) {
      this.layerSeen = true;
      const step = LAYER_STEPS.find(([fragment]) => p.tensor.includes(fragment));
      const within = step ? step[1] : 0;
      this.done = Math.max(this.done, firstUnits + (p.layer - this.range.start) * LAYER_UNITS + within);
      this.at = `layer ${p.layer} (${p.layer - this.range.start + 1} of ${this.range.end - this.range.start})`;
    } else if (p.tensor.includes('word_embeddings')) {
      // The first stage writes the embedding before any layer; the last writes the tied lm_head after them.
      if (this.layerSeen || this.range.start !== 0) {
        this.done = this.total;
        this.at = 'lm_head';
      } else {
        this.done = firstUnits;
        this.at = 'embedding';
      }
    } else if (p.tensor.includes('final_layernorm')) {
      this.done = Math.max(this.done, firstUnits + (this.range.end - this.range.start) * LAYER_UNITS);
      this.at = 'final LayerNorm';
    }
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const elapsedSeconds = Math.max(0, (now - this.startedAt) / 1000);
    return {
      fraction,
      at: this.at,
      tensors: p.tensors,
      bytes: p.bytes,
      elapsedSeconds,
      bytesPerSecond: elapsedSeconds > 0 ? p.bytes / elapsedSeconds : 0,
      secondsLeft: fraction > 0 && elapsedSeconds > 0 ? (elapsedSeconds * (1 - fraction)) / fraction : undefined,
    };
  }
}

/** "37% · layer 5 (3 of 14) · 812 tensors · 1.21 GiB at 85.3 MiB/s · 1m 20s left" */
export function describeConversion(s: ConversionSnapshot): string {
  const left = s.secondsLeft === undefined ? 'time left unknown' : `${formatDuration(s.secondsLeft)} left`;
  return `${Math.floor(s.fraction * 100)}% · ${s.at} · ${s.tensors} tensors · ${formatBytes(s.bytes)} at ${formatBytes(s.bytesPerSecond)}/s · ${left}`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
