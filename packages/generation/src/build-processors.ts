import { invalidScoreFix } from './invalid-score.ts';
import { composeProcessors, type LogitsProcessor } from './logits-processor.ts';
import { repetitionPenalty } from './repetition-penalty.ts';
import { isGreedy, type SelectionParams } from './sampling-params.ts';
import { temperature } from './temperature.ts';
import { topK } from './top-k.ts';
import { topP } from './top-p.ts';
import type { VocabInfo } from './vocab-info.ts';
import { maskBeyondVocab } from './vocab-mask.ts';

/**
 * The per-step processors in the order of docs/model.md §7.1, preceded by the vocabulary mask (docs/model.md §3.5):
 *
 *   maskBeyondVocab → repetitionPenalty (if ≠ 1) → invalidScoreFix
 *   → [sampling only] temperature (if ≠ 1) → topK (if > 0) → topP (if < 1)
 *
 * Greedy decoding skips the warpers, as HF does with do_sample=False: they cannot change the
 * argmax, and its logprob is then taken from the unwarped distribution.
 */
export function buildLogitsProcessors(params: SelectionParams, vocab: VocabInfo): LogitsProcessor[] {
  const list: LogitsProcessor[] = [maskBeyondVocab(vocab.vocabSize)];
  if (params.repetitionPenalty !== 1) list.push(repetitionPenalty(params.repetitionPenalty));
  list.push(invalidScoreFix(vocab.forcedTokenId, vocab.vocabSize));
  if (!isGreedy(params)) {
    if (params.temperature !== 1) list.push(temperature(params.temperature));
    if (params.topK > 0) list.push(topK(params.topK));
    if (params.topP < 1) list.push(topP(params.topP));
  }
  return list;
}

/** buildLogitsProcessors composed into one processor. */
export function buildLogitsProcessor(params: SelectionParams, vocab: VocabInfo): LogitsProcessor {
  return composeProcessors(buildLogitsProcessors(params, vocab));
}
