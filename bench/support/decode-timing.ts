// The time of one decode step of `streams` sequences through a pipeline of stages run in order:
// what every decode benchmark and the device check measure.
import { SequencePositions, type GlmConfig } from '@chatglm/glm';
import { StageChain, type StageRuntime } from '@chatglm/runtime';

/** Prompt length before decoding (about what a short chat turn takes). */
export const PROMPT_TOKENS = 18;

/** A prompt of `tokens` ids ending with [gMASK] <sop>, as the benchmarks prefill it. */
export function benchPrompt(config: Pick<GlmConfig, 'gmaskTokenId' | 'bosTokenId'>, tokens = PROMPT_TOKENS): number[] {
  return [...Array.from({ length: tokens - 2 }, (_, i) => 10 + (i % 1000)), config.gmaskTokenId, config.bosTokenId];
}

/** KV positions a stage needs for the prompt and `steps` decoded tokens. */
export const cachedPositionsFor = (steps: number, promptTokens = PROMPT_TOKENS) => promptTokens + steps + 2;

/**
 * Prefills `streams` sequences, then times `steps` decode steps of all of them together; returns
 * the median ms per step. The stages stay open (the caller closes them); the sequences are released.
 */
export async function decodeStepMs(config: GlmConfig, stages: StageRuntime[], streams: number, steps: number): Promise<number> {
  const times = (await decodeStepTimes(config, stages, streams, steps)).sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

/** decodeStepMs's measurements: the ms of each decode step, in the order they ran, after prompts of `promptTokens`. */
export async function decodeStepTimes(config: GlmConfig, stages: StageRuntime[], streams: number, steps: number, promptTokens = PROMPT_TOKENS): Promise<number[]> {
  const chain = new StageChain(stages);
  const prompt = benchPrompt(config, promptTokens);
  const positions = SequencePositions.of(prompt, config);
  const ids = Array.from({ length: streams }, (_, i) => `s${streams}-${i}`);
  for (const seqId of ids) await chain.prefill({ seqId, tokens: prompt, ...positions.prefill(prompt.length), contextLength: positions.contextLength });
  const times: number[] = [];
  for (let k = 0; k < steps; k++) {
    const at = positions.at(prompt.length + k);
    const t0 = performance.now();
    await chain.decode(ids.map((seqId) => ({ seqId, token: 20 + k, ...at })));
    times.push(performance.now() - t0);
  }
  for (const seqId of ids) await chain.release(seqId);
  return times;
}
