// The time of one decode step of `streams` sequences through a pipeline of stages run in order:
// what every decode benchmark and the device check measure.
import { SequencePositions, type GlmConfig } from '@chatglm/glm';
import { StageChain, type DecodeRequest, type StageRuntime } from '@chatglm/runtime';

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
  return median(await decodeStepTimes(config, stages, streams, steps));
}

/** decodeStepMs's measurements: the ms of each decode step, in the order they ran, after prompts of `promptTokens`. */
export async function decodeStepTimes(config: GlmConfig, stages: StageRuntime[], streams: number, steps: number, promptTokens = PROMPT_TOKENS): Promise<number[]> {
  const chain = new StageChain(stages);
  const batch = await startStreams(chain, config, `s${streams}`, streams, promptTokens);
  const times: number[] = [];
  for (let k = 0; k < steps; k++) {
    const t0 = performance.now();
    await chain.decode(batch.step(k));
    times.push(performance.now() - t0);
  }
  await batch.release();
  return times;
}

/**
 * Decode steps of `streams` sequences on each of `stages` in turn, alternating, so that the
 * machine's drift hits them alike: the median ms of each. The first step of each is left out (the
 * first runs of a session are slow).
 */
export async function alternatingDecodeMs<K extends string>(config: GlmConfig, stages: Record<K, StageRuntime>, streams: number, steps: number): Promise<Record<K, number>> {
  const names = Object.keys(stages) as K[];
  const batches = new Map<K, StreamBatch>();
  for (const name of names) batches.set(name, await startStreams(stages[name], config, 'alternating', streams));
  const times = new Map<K, number[]>(names.map((n) => [n, []]));
  for (let k = 0; k <= steps; k++) {
    for (const name of names) {
      const t0 = performance.now();
      await stages[name].decode(batches.get(name)!.step(k));
      if (k > 0) times.get(name)!.push(performance.now() - t0);
    }
  }
  for (const batch of batches.values()) await batch.release();
  return Object.fromEntries(names.map((n) => [n, median(times.get(n)!)])) as Record<K, number>;
}

/** Sequences prefilled with the benchmarks' prompt, ready to decode together. */
interface StreamBatch {
  /** The entries of decode step `k` (from 0) of every sequence. */
  step(k: number): DecodeRequest[];
  release(): Promise<void>;
}

async function startStreams(target: Pick<StageRuntime, 'prefill' | 'release'>, config: GlmConfig, name: string, streams: number, promptTokens = PROMPT_TOKENS): Promise<StreamBatch> {
  const prompt = benchPrompt(config, promptTokens);
  const positions = SequencePositions.of(prompt, config);
  const ids = Array.from({ length: streams }, (_, i) => `${name}-${i}`);
  for (const seqId of ids) await target.prefill({ seqId, tokens: prompt, ...positions.prefill(prompt.length), contextLength: positions.contextLength });
  return {
    step: (k) => {
      const at = positions.at(prompt.length + k);
      return ids.map((seqId) => ({ seqId, token: 20 + k, ...at }));
    },
    release: async () => {
      for (const seqId of ids) await target.release(seqId);
    },
  };
}

/** The middle value (the upper one of an even count), as every benchmark reports its timings. */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1]!;
}
