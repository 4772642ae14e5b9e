// How a stage's input arrives, decided once per stage: token ids (the first stage embeds them) or
// the previous stage's activations (every other stage). Each turns wire entries into the runtime's
// requests after checking their shape, so a malformed step fails as `invalid_step` with a message
// instead of reaching the graph with a missing token or position.
import { ChatGlmError } from '@chatglm/common';
import { decodeActivations, type ActivationDtype, type Entry } from '@chatglm/protocol';
import type { DecodeRequest, PrefillRequest } from '@chatglm/runtime';

export interface StageInput {
  prefill(entry: Entry): PrefillRequest;
  decode(entries: readonly Entry[]): DecodeRequest[];
}

/** The first stage: token ids. */
export function tokenInput(): StageInput {
  return {
    prefill: (e) => ({ seqId: e.seqId, tokens: e.tokenIds, ...prefillPositions(e) }),
    decode: (entries) => entries.map((e) => ({ seqId: e.seqId, token: decodeToken(e), ...decodePosition(e) })),
  };
}

/** Every later stage: `hiddenSize` activations per token, in the dtype this stage announces. */
export function activationInput(dtype: ActivationDtype, hiddenSize: number): StageInput {
  return {
    prefill: (e) => ({ seqId: e.seqId, hidden: decodeActivations(e.activations, dtype, e.tokenIds.length * hiddenSize), ...prefillPositions(e) }),
    decode: (entries) => entries.map((e) => ({ seqId: e.seqId, hidden: decodeActivations(e.activations, dtype, hiddenSize), ...decodePosition(e) })),
  };
}

function prefillPositions(e: Entry): Pick<PrefillRequest, 'positions' | 'blockPositions' | 'contextLength'> {
  const n = e.tokenIds.length;
  if (n === 0) throw new ChatGlmError('invalid_step', `the PREFILL of ${e.seqId} carries no tokens`);
  if (e.positions.length !== n || e.blockPositions.length !== n) {
    throw new ChatGlmError('invalid_step', `the PREFILL of ${e.seqId} carries ${n} tokens but ${e.positions.length} positions and ${e.blockPositions.length} block positions`);
  }
  return { positions: e.positions, blockPositions: e.blockPositions, contextLength: e.contextLength };
}

/** A DECODE entry feeds exactly one token. */
function decodeToken(e: Entry): number {
  const [token] = e.tokenIds;
  if (token === undefined || e.tokenIds.length !== 1) throw new ChatGlmError('invalid_step', `the DECODE entry of ${e.seqId} carries ${e.tokenIds.length} tokens, not one`);
  return token;
}

function decodePosition(e: Entry): Pick<DecodeRequest, 'position' | 'blockPosition'> {
  const [position] = e.positions;
  const [blockPosition] = e.blockPositions;
  if (position === undefined || blockPosition === undefined || e.positions.length !== 1 || e.blockPositions.length !== 1) {
    throw new ChatGlmError('invalid_step', `the DECODE entry of ${e.seqId} carries ${e.positions.length} positions and ${e.blockPositions.length} block positions, not one each`);
  }
  return { position, blockPosition };
}
