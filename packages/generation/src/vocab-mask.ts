import type { LogitsProcessor } from './logits-processor.ts';

/**
 * Sets the logits of ids >= `vocabSize` to -Infinity. ChatGLM-6B's output head has 130,528 rows but
 * the tokenizer only 130,344 pieces; sampling a padding row would crash decoding (docs/model.md §3.5).
 * A no-op when the logits are no longer than the vocabulary.
 */
export function maskBeyondVocab(vocabSize: number): LogitsProcessor {
  if (!Number.isSafeInteger(vocabSize) || vocabSize < 1) {
    throw new RangeError(`maskBeyondVocab: vocabSize must be a positive integer, got ${vocabSize}`);
  }
  return (logits) => {
    if (vocabSize < logits.length) logits.fill(-Infinity, vocabSize);
  };
}
