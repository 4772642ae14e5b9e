// A scheduler step as the wire carries it: each sequence's GLM positions (from the positions its
// request keeps), and with a prefill the parameters the last stage samples with. Pure.
import type { Entry, StepRequest } from '@chatglm/protocol';
import type { Step } from '@chatglm/scheduler';
import { toWireSampling } from '../wire-sampling.ts';
import type { HeadSequence } from './head-sequence.ts';

const NO_ACTIVATIONS = Buffer.alloc(0);

export function toStepRequest(step: Step<HeadSequence>): StepRequest {
  if (step.kind === 'prefill') {
    const { positions, logprobs } = step.context;
    const { positions: p, blockPositions: q } = positions.prefill(step.tokenIds.length);
    const entry: Entry = {
      seqId: step.seqId,
      phase: 'PHASE_PREFILL',
      tokenIds: step.tokenIds,
      positions: Array.from(p),
      blockPositions: Array.from(q),
      contextLength: positions.contextLength,
      activations: NO_ACTIVATIONS,
      sampling: toWireSampling({ params: step.params, topLogprobs: logprobs ?? 0, logprob: logprobs !== undefined }),
      sampleIndex: step.sampleIndex,
    };
    return { stepId: step.id, entries: [entry] };
  }
  return {
    stepId: step.id,
    entries: step.entries.map((e): Entry => {
      const { position, blockPosition } = e.context.positions.at(e.index);
      return { seqId: e.seqId, phase: 'PHASE_DECODE', tokenIds: [e.tokenId], positions: [position], blockPositions: [blockPosition], contextLength: 0, activations: NO_ACTIVATIONS, sampleIndex: e.sampleIndex };
    }),
  };
}
