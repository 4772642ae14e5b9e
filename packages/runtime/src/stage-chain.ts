// Several stages of one model chained in one process: each stage's activations feed the next, and
// the last one returns logits. The distributed pipeline (gRPC between processes) replaces the
// direct calls; the in-process chain exercises the same split in the terminal chat and in tests.
import { ChatGlmError } from '@chatglm/common';
import { layerChainProblems } from '@chatglm/glm';
import type { DecodeRequest, PrefillRequest, RunOptions, StageOutput, StageRuntime } from './stage-runtime.ts';

/** Runs a piece of work when its turn comes (see StageChain.prefill). */
export type Schedule = <T>(run: () => Promise<T>) => Promise<T>;

const runNow: Schedule = (run) => run();

export class StageChain {
  /** `part`: the stages are one stage's chunks, which follow each other but need not make the whole model. */
  constructor(readonly stages: StageRuntime[], options: { part?: boolean } = {}) {
    if (stages.length === 0) throw new ChatGlmError('invalid_pipeline', 'a pipeline needs at least one stage');
    const ranges = stages.map((s, i) => ({ name: `stage ${i}`, ...s.info.range }));
    const problems = options.part
      ? ranges.slice(1).flatMap((r, i) => (r.start === ranges[i]!.end ? [] : [`${r.name} starts at layer ${r.start}, not where ${ranges[i]!.name} ends (${ranges[i]!.end})`]))
      : layerChainProblems(ranges, (stages[0] as StageRuntime).info.numLayers);
    if (problems.length > 0) throw new ChatGlmError('invalid_pipeline', `the stages do not form one model: ${problems.join('; ')}`);
  }

  /**
   * Prefills one sequence through every stage; returns the last stage's output (logits). Each
   * stage's part runs when `schedule` lets it (at once by default): a chunked stage lets decode
   * steps go between its chunks this way (chunked-stage.ts).
   */
  async prefill(request: Omit<PrefillRequest, 'hidden'>, options: RunOptions = {}, schedule: Schedule = runNow): Promise<StageOutput> {
    let out: StageOutput = {};
    try {
      for (const [i, stage] of this.stages.entries()) {
        const input = i === 0 ? request : { ...request, tokens: undefined, hidden: out.hidden };
        out = await schedule(() => stage.prefill(input, i === this.stages.length - 1 ? options : {}));
      }
    } catch (err) {
      await this.release(request.seqId); // stages already prefilled must not keep the slot
      throw err;
    }
    return out;
  }

  /** One batched decode step through every stage. */
  async decode(entries: DecodeRequest[], options: RunOptions = {}): Promise<StageOutput> {
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
