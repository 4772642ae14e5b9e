// One sequence generated on an in-process StageChain, in the shape of @chatglm/generation's
// LogitsSource: callers pass only token ids; the sequence's GLM positions (@chatglm/glm
// SequencePositions) turn them into what each stage runs.
import { ChatGlmError } from '@chatglm/common';
import { SequencePositions, type PromptMarkerIds } from '@chatglm/glm';
import type { StageChain } from './stage-chain.ts';
import type { StageOutput } from './stage-runtime.ts';

export class ChainSequence {
  private positions: SequencePositions | undefined;
  private length = 0;

  constructor(
    private readonly chain: StageChain,
    readonly seqId: string,
    private readonly markers: PromptMarkerIds,
  ) {}

  async prefill(promptIds: readonly number[]): Promise<Float32Array> {
    if (this.positions) throw new ChatGlmError('invalid_request', `sequence ${this.seqId} was already prefilled`);
    const positions = SequencePositions.of(promptIds, this.markers);
    const out = await this.chain.prefill({ seqId: this.seqId, tokens: promptIds, ...positions.prefill(promptIds.length), contextLength: positions.contextLength });
    this.positions = positions;
    this.length = promptIds.length;
    return logitsOf(out);
  }

  async decode(tokenId: number): Promise<Float32Array> {
    if (!this.positions) throw new ChatGlmError('invalid_request', `sequence ${this.seqId} must be prefilled before decoding`);
    const out = await this.chain.decode([{ seqId: this.seqId, token: tokenId, ...this.positions.at(this.length) }]);
    this.length += 1;
    return logitsOf(out);
  }

  /** Frees the sequence's cache on every stage (idempotent). */
  async release(): Promise<void> {
    await this.chain.release(this.seqId);
  }
}

/** A chain's output always has logits: its last stage holds the lm_head. */
function logitsOf(out: StageOutput): Float32Array {
  if (!out.logits) throw new ChatGlmError('invalid_pipeline', 'the chain returned no logits: its last stage is not the model\'s last');
  return out.logits;
}
