import { GenerationParamsError } from './errors.ts';

/**
 * Per-request decoding parameters. Defaults follow ChatGLM-6B's `chat()` in Hugging Face
 * transformers (docs/model.md §7.1); `topK` and `repetitionPenalty` are transformers' GenerationConfig
 * defaults, which `chat()` inherits.
 */
export interface SamplingParams {
  /** Limit on the TOTAL length, prompt tokens + generated tokens (as HF `max_length`). Default 2048. */
  readonly maxLength: number;
  /**
   * Limit on generated tokens alone. Default undefined (no limit besides `maxLength`). When both
   * are set, whichever is reached first stops generation (as chatglm.cpp), finish reason "length".
   */
  readonly maxNewTokens?: number | undefined;
  /** Nucleus sampling mass in [0, 1]; 1 disables the filter. Default 0.7. */
  readonly topP: number;
  /**
   * Softmax temperature, >= 0. Default 0.95. 0 means greedy decoding (as OpenAI's API treats it),
   * since dividing by zero has no useful meaning.
   */
  readonly temperature: number;
  /** Keep only the k most likely tokens (ties at the k-th value kept); 0 disables. Default 50. */
  readonly topK: number;
  /** HF repetition penalty (> 0) over every distinct id seen, prompt included; 1 disables. Default 1. */
  readonly repetitionPenalty: number;
  /** Sample (true) or take the argmax (false). Default true. */
  readonly doSample: boolean;
  /**
   * Seed of the counter-based sampler (see counter-rng.ts): the token at index i of a request is
   * drawn from (seed, i) alone, so a request resumed elsewhere samples the same tokens. A safe
   * integer (|n| <= 2^53 - 1) or a bigint; both are reduced modulo 2^64 (negatives in two's
   * complement). Default 0. Servers should draw a fresh one per request (`randomSeed()`) and
   * store it with the request, otherwise every request with equal inputs gives equal output.
   */
  readonly seed: number | bigint;
  /**
   * Stop strings, matched in the processed response text (after process_response, so e.g. in
   * Chinese context "，" not ","). The text is cut before the first match; finish reason "stop".
   * Empty strings are ignored. Default [].
   */
  readonly stop: readonly string[];
}

/**
 * What choosing one token needs: the processors and the sampler read only these. A pipeline's last
 * stage gets just this part (length limits and stop strings stay with the head, which tracks text).
 */
export type SelectionParams = Pick<SamplingParams, 'doSample' | 'temperature' | 'topP' | 'topK' | 'repetitionPenalty' | 'seed'>;

export const DEFAULT_SAMPLING: SamplingParams = Object.freeze({
  maxLength: 2048,
  maxNewTokens: undefined,
  topP: 0.7,
  temperature: 0.95,
  topK: 50,
  repetitionPenalty: 1.0,
  doSample: true,
  seed: 0,
  stop: Object.freeze([]) as readonly string[],
});

/**
 * Temperatures below this decode greedily. Dividing logits by a tiny temperature overflows to
 * infinities (and the softmax to NaN) long before 0, while the distribution it asks for is already
 * the argmax's; vLLM draws the line at the same place.
 */
export const MIN_SAMPLING_TEMPERATURE = 1e-5;

/** True when decoding takes the argmax: sampling off, or a temperature of 0 (or below MIN_SAMPLING_TEMPERATURE). */
export function isGreedy(params: SelectionParams): boolean {
  return !params.doSample || params.temperature < MIN_SAMPLING_TEMPERATURE;
}

const MAX_U64 = (1n << 64n) - 1n;

/** Merges `overrides` over DEFAULT_SAMPLING and checks every range; throws GenerationParamsError. */
export function resolveSamplingParams(overrides: Partial<SamplingParams> = {}): SamplingParams {
  const defined = Object.fromEntries(
    Object.entries(overrides).filter(([, value]) => value !== undefined),
  ) as Partial<SamplingParams>;
  const p: SamplingParams = { ...DEFAULT_SAMPLING, ...defined };
  requireInteger('maxLength', p.maxLength, 1);
  if (p.maxNewTokens !== undefined) requireInteger('maxNewTokens', p.maxNewTokens, 0);
  requireRange('topP', p.topP, 0, 1);
  if (typeof p.temperature !== 'number' || !(p.temperature >= 0) || !Number.isFinite(p.temperature)) {
    throw new GenerationParamsError(`temperature must be a finite number >= 0, got ${p.temperature}`);
  }
  requireInteger('topK', p.topK, 0);
  if (!(p.repetitionPenalty > 0) || !Number.isFinite(p.repetitionPenalty)) {
    throw new GenerationParamsError(`repetitionPenalty must be a finite number > 0, got ${p.repetitionPenalty}`);
  }
  if (typeof p.doSample !== 'boolean') throw new GenerationParamsError('doSample must be a boolean');
  if (typeof p.seed === 'bigint') {
    if (p.seed < -(1n << 63n) || p.seed > MAX_U64) {
      throw new GenerationParamsError('seed must fit in 64 bits (signed or unsigned)');
    }
  } else if (!Number.isSafeInteger(p.seed)) {
    throw new GenerationParamsError(`seed must be a safe integer or a bigint, got ${String(p.seed)}`);
  }
  if (!Array.isArray(p.stop) || !p.stop.every((s) => typeof s === 'string')) {
    throw new GenerationParamsError('stop must be an array of strings');
  }
  return Object.freeze({ ...p, stop: Object.freeze(p.stop.filter((s) => s.length > 0)) });
}

/** A uniformly random 64-bit seed from the platform CSPRNG, for requests that give none. */
export function randomSeed(): bigint {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return (BigInt(words[0] ?? 0) << 32n) | BigInt(words[1] ?? 0);
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new GenerationParamsError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

function requireRange(name: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    throw new GenerationParamsError(`${name} must be a number in [${min}, ${max}], got ${value}`);
  }
}
