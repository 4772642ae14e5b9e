/**
 * @chatglm/generation — turning logits into tokens and tokens into streamed text, for ChatGLM-6B
 * (docs/model.md §7, §8). Pure: no I/O. Small callables compose into a loop:
 *
 * @example
 *   import { generate, resolveSamplingParams, randomSeed } from '@chatglm/generation';
 *
 *   const params = resolveSamplingParams({ temperature: 0.8, seed: randomSeed(), stop: ['\n\n'] });
 *   const vocab = tokenizer.vocab;   // a VocabInfo: @chatglm/tokenizer's ChatGLMTokenizer hands one out
 *   for await (const event of generate(model, promptIds, params, {
 *     vocab, decode: tokenizer.decode, processResponse, signal: controller.signal,
 *   })) {
 *     if (event.type === 'token') process.stdout.write(event.delta);
 *     else console.log(event.delta, `(${event.finishReason}, ${event.completionTokens} tokens)`);
 *   }
 *
 *   // A pipeline's last stage only selects tokens; its head only streams text:
 *   const select = createTokenSelector(params, vocab, { topLogprobs: 2 });   // (logits, {tokenIds, tokenIndex}) => {tokenId, logprob, topLogprobs}
 *   const text = new TextStream({ decode, processResponse, stop: params.stop });  // push(id) => delta
 */
export { GenerationParamsError } from './errors.ts';
export {
  DEFAULT_SAMPLING,
  isGreedy,
  MIN_SAMPLING_TEMPERATURE,
  randomSeed,
  resolveSamplingParams,
  type SamplingParams,
  type SelectionParams,
} from './sampling-params.ts';
export { formatSeed, parseSeed, samplingParamsFromJson, samplingParamsToJson, type SamplingParamsJson } from './sampling-params-json.ts';
export type { VocabInfo } from './vocab-info.ts';

export { composeProcessors, type LogitsContext, type LogitsProcessor } from './logits-processor.ts';
export { maskBeyondVocab } from './vocab-mask.ts';
export { repetitionPenalty } from './repetition-penalty.ts';
export { INVALID_SCORE_FORCED_LOGIT, invalidScoreFix } from './invalid-score.ts';
export { temperature } from './temperature.ts';
export { topK } from './top-k.ts';
export { topP } from './top-p.ts';
export { KthLargest } from './kth-largest.ts';
export { buildLogitsProcessor, buildLogitsProcessors } from './build-processors.ts';

export { mix64, seedToU64, splitMix64At, uniformAt } from './counter-rng.ts';
export { logSoftmaxAt } from './softmax.ts';
export { createSampler, greedySampler, multinomialSampler, type SampledToken, type Sampler } from './sampler.ts';
export { createTokenSelector, type SelectionContext, type TokenSelector, type TokenSelectorOptions } from './token-selector.ts';
export { MAX_TOP_LOGPROBS, topLogprobs, type TokenLogprob } from './top-logprobs.ts';

export { FINISH_REASONS, type FinishReason } from './finish-reason.ts';
export {
  anyCriterion,
  createStoppingCriteria,
  eopCriterion,
  maxLengthCriterion,
  maxNewTokensCriterion,
  remainingTokens,
  type StoppingCriterion,
  type StoppingState,
} from './stopping-criteria.ts';

export { CHATGLM_REWRITTEN_LITERALS, UnstableSuffix } from './unstable-suffix.ts';
export {
  IncrementalDetokenizer,
  type DecodeFn,
  type DetokenizerOptions,
  type ProcessResponseFn,
} from './incremental-detokenizer.ts';
export { StopStringFilter } from './stop-string-filter.ts';
export { TextStream, type TextStreamOptions } from './text-stream.ts';

export type { LogitsSource } from './logits-source.ts';
export { generate, type FinishEvent, type GenerateEvent, type GenerateOptions, type TokenEvent } from './generate.ts';
export { SequenceTracker, type SequenceTrackerOptions, type TrackedToken } from './sequence-tracker.ts';
