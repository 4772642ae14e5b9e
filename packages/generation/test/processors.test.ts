import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  buildLogitsProcessor,
  buildLogitsProcessors,
  composeProcessors,
  INVALID_SCORE_FORCED_LOGIT,
  invalidScoreFix,
  maskBeyondVocab,
  repetitionPenalty,
  resolveSamplingParams,
  temperature,
  topP,
} from '../src/index.ts';

const f32 = (values: number[]): Float32Array => Float32Array.from(values);
const none = { tokenIds: [] };

describe('maskBeyondVocab', () => {
  it('sets ids from the tokenizer vocabulary size up to the logits length to -Infinity', () => {
    const logits = f32([1, 2, 3, 4, 5]);
    maskBeyondVocab(3)(logits, none);
    assert.deepEqual([...logits], [1, 2, 3, -Infinity, -Infinity]);
  });

  it('is a no-op when the logits are not longer than the vocabulary', () => {
    const logits = f32([1, 2, 3]);
    maskBeyondVocab(3)(logits, none);
    maskBeyondVocab(10)(logits, none);
    assert.deepEqual([...logits], [1, 2, 3]);
  });
});

describe('repetitionPenalty', () => {
  it('divides positive and multiplies negative logits of every distinct id seen, once each', () => {
    const logits = f32([2, -2, 1, 0.5, 0]);
    repetitionPenalty(2)(logits, { tokenIds: [0, 1, 1, 1, 4] });
    assert.deepEqual([...logits], [1, -4, 1, 0.5, 0]);
  });

  it('covers the prompt too, since the context holds prompt and generated ids', () => {
    const logits = f32([3, 3]);
    const context = { tokenIds: [1] };
    repetitionPenalty(1.5)(logits, context);
    assert.deepEqual([...logits], [3, 2]);
  });

  it('leaves the logits alone at 1.0 and rejects penalties <= 0', () => {
    const logits = f32([2, -2]);
    repetitionPenalty(1)(logits, { tokenIds: [0, 1] });
    assert.deepEqual([...logits], [2, -2]);
    assert.throws(() => repetitionPenalty(0), RangeError);
  });
});

describe('invalidScoreFix', () => {
  for (const bad of [Number.NaN, Infinity, -Infinity]) {
    it(`zeroes everything and forces the given id when a logit is ${bad}`, () => {
      const logits = f32([1, bad, 2, 3]);
      invalidScoreFix(2)(logits, none);
      assert.deepEqual([...logits], [0, 0, INVALID_SCORE_FORCED_LOGIT, 0]);
    });
  }

  it('leaves finite logits untouched', () => {
    const logits = f32([1, -3e38, 2]);
    invalidScoreFix(0)(logits, none);
    assert.deepEqual([...logits], [1, Math.fround(-3e38), 2]);
  });

  it('ignores and keeps the masked tail beyond the checked size', () => {
    const logits = f32([1, 2, 3, 9, 9]);
    maskBeyondVocab(3)(logits, none);
    invalidScoreFix(1, 3)(logits, none);
    assert.deepEqual([...logits], [1, 2, 3, -Infinity, -Infinity]);

    logits[0] = Number.NaN;
    invalidScoreFix(1, 3)(logits, none);
    assert.deepEqual([...logits], [0, INVALID_SCORE_FORCED_LOGIT, 0, -Infinity, -Infinity]);
  });

  it('refuses a forced id outside the checked vocabulary', () => {
    assert.throws(() => invalidScoreFix(3, 3), RangeError);
  });
});

describe('temperature', () => {
  it('divides every logit by the temperature', () => {
    const logits = f32([1, 2, -Infinity]);
    temperature(0.5)(logits, none);
    assert.deepEqual([...logits], [2, 4, -Infinity]);
  });

  it('rejects 0, which means greedy and is handled by the sampler choice', () => {
    assert.throws(() => temperature(0), RangeError);
  });
});

describe('buildLogitsProcessors', () => {
  const vocab = { vocabSize: 3, eopId: 2, forcedTokenId: 1 };

  it('applies temperature BEFORE top-p, as docs/model.md §7.1 orders them, which changes the result', () => {
    // probs of [2, 1, 0] are 0.665 / 0.245 / 0.090: top-p 0.7 alone keeps ids 0 and 1.
    // After temperature 0.5 they are [4, 2, 0] -> 0.867 / 0.117 / 0.016: only id 0 survives.
    const temperatureFirst = f32([2, 1, 0]);
    composeProcessors([temperature(0.5), topP(0.7)])(temperatureFirst, none);
    const topPFirst = f32([2, 1, 0]);
    composeProcessors([topP(0.7), temperature(0.5)])(topPFirst, none);
    assert.deepEqual([...temperatureFirst], [4, -Infinity, -Infinity]);
    assert.deepEqual([...topPFirst], [4, 2, -Infinity]);

    const ours = f32([2, 1, 0, 7]);
    const params = resolveSamplingParams({ temperature: 0.5, topP: 0.7, topK: 0 });
    buildLogitsProcessor(params, vocab)(ours, none);
    assert.deepEqual([...ours], [4, -Infinity, -Infinity, -Infinity]);
  });

  it('applies the repetition penalty before temperature and top-k (chatglm.cpp and HF agree)', () => {
    // Penalty first: [4, 3, 1] -> [2, 3, 1]; /0.5 -> [4, 6, 2]; top-1 keeps id 1.
    const logits = f32([4, 3, 1]);
    const params = resolveSamplingParams({ repetitionPenalty: 2, temperature: 0.5, topK: 1, topP: 1 });
    buildLogitsProcessor(params, vocab)(logits, { tokenIds: [0] });
    assert.deepEqual([...logits], [-Infinity, 6, -Infinity]);
  });

  it('masks before the invalid-score check, so the masked tail does not trigger it', () => {
    const logits = f32([1, 2, 0.5, 100, Number.NaN]);
    const params = resolveSamplingParams({ doSample: false });
    buildLogitsProcessor(params, vocab)(logits, none);
    assert.deepEqual([...logits], [1, 2, 0.5, -Infinity, -Infinity]);
  });

  it('builds only what the params enable, and no warpers when greedy', () => {
    const defaults = resolveSamplingParams();
    assert.equal(buildLogitsProcessors(defaults, vocab).length, 5); // mask, fix, T, top-k, top-p
    const plain = resolveSamplingParams({ temperature: 1, topK: 0, topP: 1 });
    assert.equal(buildLogitsProcessors(plain, vocab).length, 2);
    const penalised = resolveSamplingParams({ repetitionPenalty: 1.2 });
    assert.equal(buildLogitsProcessors(penalised, vocab).length, 6);
    assert.equal(buildLogitsProcessors(resolveSamplingParams({ temperature: 0 }), vocab).length, 2);
    assert.equal(buildLogitsProcessors(resolveSamplingParams({ doSample: false }), vocab).length, 2);
  });
});
