// One step on one stage, shared by the pipeline head (stage 0, fed token ids) and the stage servers
// (fed activations): run the layers, then either sample (last stage) or hand the activations on.
import { ChatGlmError } from '@chatglm/common';
import { decodeActivations, encodeActivations, type ActivationDtype, type Entry, type Sampled, type StageTiming } from '@chatglm/protocol';
import type { StageRuntime } from '@chatglm/runtime';
import type { SequenceSampler } from './sequence-sampler.ts';
import { fromWireSampling } from './wire-sampling.ts';

export type StepOutcome =
  /** The last stage sampled: one result per entry. */
  | { kind: 'sampled'; results: Sampled[]; timing: StageTiming }
  /** Activations for the next stage: the same entries with their `activations` filled in. */
  | { kind: 'forward'; entries: Entry[]; timing: StageTiming }
  /** RELEASE entries: done here (forward them if there is a next stage). */
  | { kind: 'released'; entries: Entry[]; timing: StageTiming };

export class StageStep {
  constructor(
    private readonly runtime: StageRuntime,
    /** Present on the last stage only. */
    private readonly sampler: SequenceSampler | null,
    /** The dtype this stage receives (its StageInfo) and the one the next stage expects. */
    private readonly inputDtype: ActivationDtype,
    private readonly outputDtype: ActivationDtype,
  ) {}

  async run(entries: readonly Entry[]): Promise<StepOutcome> {
    const started = performance.now();
    const { info } = this.runtime;
    const timing = () => ({ layerStart: info.range.start, layerEnd: info.range.end, forwardMs: performance.now() - started });
    const phase = entries[0]?.phase;
    if (!phase || entries.some((e) => e.phase !== phase)) throw new ChatGlmError('invalid_step', 'a step holds entries of one phase only');
    const H = info.hiddenSize;

    if (phase === 'PHASE_RELEASE') {
      for (const e of entries) {
        await this.runtime.release(e.seqId);
        this.sampler?.release(e.seqId);
      }
      return { kind: 'released', entries: [...entries], timing: timing() };
    }

    if (phase === 'PHASE_PREFILL') {
      if (entries.length !== 1) throw new ChatGlmError('invalid_step', 'a PREFILL step holds exactly one entry');
      const e = entries[0] as Entry;
      const n = e.tokenIds.length;
      const out = await this.runtime.prefill({
        seqId: e.seqId,
        ...(info.isFirst ? { tokens: e.tokenIds } : { hidden: decodeActivations(e.activations, this.inputDtype, n * H) }),
        positions: e.positions,
        blockPositions: e.blockPositions,
        contextLength: e.contextLength,
      });
      if (this.sampler) {
        if (!e.sampling) throw new ChatGlmError('invalid_step', `PREFILL of ${e.seqId} carries no sampling parameters`);
        const s = this.sampler.startAndSample(e.seqId, e.tokenIds, fromWireSampling(e.sampling), out.logits as Float32Array, e.sampleIndex);
        return { kind: 'sampled', results: [{ seqId: e.seqId, tokenId: s.tokenId, logprob: s.logprob }], timing: timing() };
      }
      return { kind: 'forward', entries: [{ ...e, activations: encodeActivations(out.hidden as Float32Array, this.outputDtype) }], timing: timing() };
    }

    if (phase !== 'PHASE_DECODE') throw new ChatGlmError('invalid_step', `unknown phase ${phase}`);
    const out = await this.runtime.decode(
      entries.map((e) => ({
        seqId: e.seqId,
        ...(info.isFirst ? { token: e.tokenIds[0] as number } : { hidden: decodeActivations(e.activations, this.inputDtype, H) }),
        position: e.positions[0] as number,
        blockPosition: e.blockPositions[0] as number,
      })),
    );
    if (this.sampler) {
      const logits = out.logits as Float32Array;
      const V = info.vocabSize;
      const results = entries.map((e, r) => {
        const s = (this.sampler as SequenceSampler).appendAndSample(e.seqId, e.tokenIds[0] as number, logits.subarray(r * V, (r + 1) * V), e.sampleIndex);
        return { seqId: e.seqId, tokenId: s.tokenId, logprob: s.logprob };
      });
      return { kind: 'sampled', results, timing: timing() };
    }
    const hidden = out.hidden as Float32Array;
    return {
      kind: 'forward',
      entries: entries.map((e, r) => ({ ...e, activations: encodeActivations(hidden.subarray(r * H, (r + 1) * H), this.outputDtype) })),
      timing: timing(),
    };
  }
}

/** The entry that frees a sequence's cache on a stage. */
export function releaseEntry(seqId: string): Entry {
  return { seqId, phase: 'PHASE_RELEASE', tokenIds: [], positions: [], blockPositions: [], contextLength: 0, activations: Buffer.alloc(0), sampleIndex: 0 };
}
