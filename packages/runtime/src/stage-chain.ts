// Several stages of one model chained in one process: each stage's activations feed the next, and
// the last one returns logits. The distributed pipeline (gRPC between processes) replaces the
// direct calls; the in-process chain exercises the same split in the terminal chat and in tests.
import { ChatGlmError } from '@chatglm/common';
import type { DecodeEntry, PrefillRequest, RunOptions, StageOutput, StageRuntime } from './stage-runtime.ts';

export class StageChain {
  constructor(readonly stages: StageRuntime[]) {
    if (stages.length === 0) throw new ChatGlmError('invalid_pipeline', 'a pipeline needs at least one stage');
    const first = stages[0] as StageRuntime;
    const last = stages[stages.length - 1] as StageRuntime;
    if (!first.info.isFirst) throw new ChatGlmError('invalid_pipeline', `the first stage starts at layer ${first.info.range.start}, not 0`);
    if (!last.info.isLast) throw new ChatGlmError('invalid_pipeline', `the last stage ends at layer ${last.info.range.end}, not at the model's last layer`);
    for (let i = 1; i < stages.length; i++) {
      const prev = (stages[i - 1] as StageRuntime).info.range;
      const cur = (stages[i] as StageRuntime).info.range;
      if (prev.end !== cur.start) throw new ChatGlmError('invalid_pipeline', `stage ${i - 1} ends at layer ${prev.end} but stage ${i} starts at ${cur.start}: layers must be contiguous`);
    }
  }

  /** Prefills one sequence through every stage; returns the last stage's output (logits). */
  async prefill(request: Omit<PrefillRequest, 'hidden'>, options: RunOptions = {}): Promise<StageOutput> {
    let out: StageOutput = {};
    try {
      for (const [i, stage] of this.stages.entries()) {
        out = await stage.prefill(i === 0 ? request : { ...request, tokens: undefined, hidden: out.hidden }, i === this.stages.length - 1 ? options : {});
      }
    } catch (err) {
      await this.release(request.seqId); // stages already prefilled must not keep the slot
      throw err;
    }
    return out;
  }

  /** One batched decode step through every stage. */
  async decode(entries: DecodeEntry[], options: RunOptions = {}): Promise<StageOutput> {
    let out: StageOutput = {};
    for (const [i, stage] of this.stages.entries()) {
      const hidden = out.hidden;
      const width = stage.info.hiddenSize;
      const input = i === 0 ? entries : entries.map((e, r) => ({ ...e, token: undefined, hidden: hidden?.slice(r * width, (r + 1) * width) }));
      out = await stage.decode(input, i === this.stages.length - 1 ? options : {});
    }
    return out;
  }

  async release(seqId: string): Promise<void> {
    await Promise.all(this.stages.map((s) => s.release(seqId)));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.stages.map((s) => s.close()));
  }
}

/** Layer ranges of `layersPerStage` layers each (the last stage takes the remainder). */
export function rangesByLayersPerStage(numLayers: number, layersPerStage: number): { start: number; end: number }[] {
  if (!Number.isInteger(layersPerStage) || layersPerStage < 1) throw new ChatGlmError('invalid_pipeline', `layers per stage must be a positive integer, got ${layersPerStage}`);
  const ranges = [];
  for (let start = 0; start < numLayers; start += layersPerStage) ranges.push({ start, end: Math.min(numLayers, start + layersPerStage) });
  return ranges;
}
