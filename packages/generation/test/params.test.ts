import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DEFAULT_SAMPLING, GenerationParamsError, isGreedy, randomSeed, resolveSamplingParams } from '../src/index.ts';

describe('sampling params', () => {
  it('defaults to ChatGLM-6B chat(): 2048 / 0.7 / 0.95, top-k 50, sampling on', () => {
    assert.deepEqual(
      { ...DEFAULT_SAMPLING },
      {
        maxLength: 2048,
        maxNewTokens: undefined,
        topP: 0.7,
        temperature: 0.95,
        topK: 50,
        repetitionPenalty: 1,
        doSample: true,
        seed: 0,
        stop: [],
      },
    );
    assert.deepEqual(resolveSamplingParams(), DEFAULT_SAMPLING);
  });

  it('merges overrides, ignoring undefined ones, and drops empty stop strings', () => {
    const p = resolveSamplingParams({ topP: undefined, temperature: 0.5, stop: ['', 'x'], seed: 5n });
    assert.equal(p.topP, 0.7);
    assert.equal(p.temperature, 0.5);
    assert.deepEqual(p.stop, ['x']);
    assert.equal(p.seed, 5n);
  });

  it('rejects out-of-range values with a GenerationParamsError naming the field', () => {
    const bad: Array<[string, Parameters<typeof resolveSamplingParams>[0]]> = [
      ['maxLength', { maxLength: 0 }],
      ['maxNewTokens', { maxNewTokens: -1 }],
      ['topP', { topP: 1.5 }],
      ['temperature', { temperature: -0.1 }],
      ['topK', { topK: 2.5 }],
      ['repetitionPenalty', { repetitionPenalty: 0 }],
      ['seed', { seed: 2 ** 60 }],
      ['seed', { seed: 1n << 64n }],
    ];
    for (const [field, overrides] of bad) {
      assert.throws(
        () => resolveSamplingParams(overrides),
        (e: unknown) => e instanceof GenerationParamsError && e.message.includes(field) && !e.retryable,
      );
    }
  });

  it('treats temperature 0 as greedy', () => {
    assert.ok(isGreedy(resolveSamplingParams({ temperature: 0 })));
    assert.ok(isGreedy(resolveSamplingParams({ doSample: false })));
    assert.ok(!isGreedy(resolveSamplingParams()));
  });

  it('draws 64-bit random seeds', () => {
    const seeds = new Set(Array.from({ length: 20 }, () => randomSeed()));
    assert.equal(seeds.size, 20);
    for (const s of seeds) assert.ok(s >= 0n && s < 1n << 64n);
  });
});
