// The in-process engine's answer for a prompt: what the distributed pipeline must reproduce.
import { generate, resolveSamplingParams, type SamplingParams } from '@chatglm/generation';
import type { QuantizationOptions } from '@chatglm/glm';
import { ChainSequence } from '@chatglm/runtime';
import { buildChatPrompt, processResponse, type ChatTurn } from '@chatglm/tokenizer';
import { openLocalModel, type LocalModel } from '../../services/cli/src/local-model.ts';

export class EngineReference {
  private n = 0;
  private constructor(readonly model: LocalModel) {}

  static async open(modelDir: string, quantization?: QuantizationOptions): Promise<EngineReference> {
    return new EngineReference(await openLocalModel({ modelDir, threads: 1, ...(quantization && { quantization }) }));
  }

  async run(query: string, params: Partial<SamplingParams>, history: ChatTurn[] = []): Promise<{ text: string; tokenIds: number[]; logprobs: number[]; finishReason: string }> {
    const { tokenizer, chain } = this.model;
    const seq = new ChainSequence(chain, `ref-${this.n++}`, tokenizer.promptMarkers);
    try {
      const events = generate(seq, tokenizer.encode(buildChatPrompt(history, query)), resolveSamplingParams(params), {
        vocab: tokenizer.vocab,
        decode: (ids) => tokenizer.decode(ids),
        processResponse,
      });
      const logprobs: number[] = [];
      for await (const e of events) {
        if (e.type === 'token') logprobs.push(e.logprob);
        else return { text: e.text, tokenIds: [...e.tokenIds], logprobs, finishReason: e.finishReason };
      }
      throw new Error('generate ended without a finish event');
    } finally {
      await seq.release();
    }
  }

  close(): Promise<void> {
    return this.model.close();
  }
}
