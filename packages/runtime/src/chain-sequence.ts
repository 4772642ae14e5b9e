// One sequence generated on an in-process StageChain: computes GLM's 2-D positions and the prefix
// mask's context length from the prompt, so callers only pass token ids (the shape of
// @chatglm/generation's LogitsSource).
import { ChatGlmError } from '@chatglm/common';
import { glmPositions, promptLayout, type PromptLayout, type SpecialIds } from '@chatglm/glm';
import type { StageChain } from './stage-chain.ts';

export class ChainSequence {
  private layout: PromptLayout | undefined;
  private length = 0;

  constructor(
    private readonly chain: StageChain,
    readonly seqId: string,
    private readonly special: SpecialIds,
  ) {}

  async prefill(promptIds: readonly number[]): Promise<Float32Array> {
    if (this.layout) throw new ChatGlmError('invalid_request', `sequence ${this.seqId} was already prefilled`);
    const layout = promptLayout(promptIds, this.special);
    const { positions, blockPositions } = glmPositions(layout, 0, promptIds.length);
    const out = await this.chain.prefill({ seqId: this.seqId, tokens: promptIds, positions, blockPositions, contextLength: layout.contextLength });
    this.layout = layout;
    this.length = promptIds.length;
    return out.logits as Float32Array;
  }

  async decode(tokenId: number): Promise<Float32Array> {
    if (!this.layout) throw new ChatGlmError('invalid_request', `sequence ${this.seqId} must be prefilled before decoding`);
    const pos = glmPositions(this.layout, this.length, 1);
    const out = await this.chain.decode([{ seqId: this.seqId, token: tokenId, position: pos.positions[0] as number, blockPosition: pos.blockPositions[0] as number }]);
    this.length += 1;
    return out.logits as Float32Array;
  }

  /** Frees the sequence's cache on every stage (idempotent). */
  async release(): Promise<void> {
    await this.chain.release(this.seqId);
  }
}
