import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  createSampler,
  createTokenSelector,
  greedySampler,
  isGreedy,
  logSoftmaxAt,
  MIN_SAMPLING_TEMPERATURE,
  multinomialSampler,
  resolveSamplingParams,
  splitMix64At,
  uniformAt,
} from '../src/index.ts';
import { seededRandom } from '@chatglm/common';
import { softmax } from './helpers/reference.ts';

const f32 = (values: number[]): Float32Array => Float32Array.from(values);

describe('counter-based generator', () => {
  it('is SplitMix64: the published outputs for seed 1234567', () => {
    // The reference vector of SplitMix64 (as in java.util.SplittableRandom and Vigna's splitmix64.c).
    const expected = [6457827717110365317n, 3203168211198807973n, 9817491932198370423n, 4593380528125082431n];
    assert.deepEqual(
      expected.map((_, i) => splitMix64At(1234567n, i)),
      expected,
    );
  });

  it('pins uniformAt to the documented derivation (values computed independently in Python)', () => {
    // key = first SplitMix64 output of the seed; u_i = (i-th output of SplitMix64(key) >> 11) / 2^53.
    assert.deepEqual([0, 1, 2].map((i) => uniformAt(0, i)), [0.6524484863740322, 0.7012121095215252, 0.3871241409757855]);
    assert.deepEqual(
      [0, 1, 2].map((i) => uniformAt(1234567n, i)),
      [0.5263538514320026, 0.7054837886056303, 0.9974742775778301],
    );
    assert.deepEqual([0, 1, 2].map((i) => uniformAt(-1, i)), [0.3662420901697574, 0.7408050620013817, 0.510562089893682]);
  });

  it('gives the same number for the same (seed, index), in any call order, number or bigint seed', () => {
    const forward = [0, 1, 2, 3, 4].map((i) => uniformAt(42, i));
    const backward = [4, 3, 2, 1, 0].map((i) => uniformAt(42n, i)).reverse();
    assert.deepEqual(forward, backward);
    assert.equal(uniformAt(-1, 7), uniformAt(0xffffffffffffffffn, 7));
    assert.notEqual(uniformAt(42, 0), uniformAt(43, 0));
  });

  it('draws independent-looking uniforms across indices and seeds', () => {
    const n = 20000;
    const u = Array.from({ length: n }, (_, i) => uniformAt(7, i));
    assert.ok(u.every((x) => x >= 0 && x < 1));
    const mean = u.reduce((a, b) => a + b, 0) / n;
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
    // Lag-1 correlation of consecutive indices, and correlation between seeds 0 and 1 (sd ~ 0.007).
    const v = Array.from({ length: n }, (_, i) => uniformAt(1, i));
    const corr = (a: number[], b: number[]): number => {
      let sab = 0;
      for (let i = 0; i < a.length; i++) sab += (a[i]! - 0.5) * (b[i]! - 0.5);
      return sab / a.length / (1 / 12);
    };
    assert.ok(Math.abs(corr(u.slice(1), u.slice(0, -1))) < 0.03);
    assert.ok(Math.abs(corr(u, v)) < 0.03);
    // 10 equal bins: chi-square with 9 degrees of freedom; 27.9 is the 0.1% critical value.
    const bins = new Array<number>(10).fill(0);
    for (const x of u) bins[Math.floor(x * 10)]!++;
    const chi = bins.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
    assert.ok(chi < 27.9, `chi-square ${chi}`);
  });
});

describe('greedySampler', () => {
  it('takes the argmax with its log-softmax', () => {
    const logits = f32([1, 3, 2]);
    const { tokenId, logprob } = greedySampler()(logits, 0);
    assert.equal(tokenId, 1);
    assert.ok(Math.abs(logprob - Math.log(softmax(logits)[1]!)) < 1e-12);
  });

  it('picks the lowest id on ties', () => {
    assert.equal(greedySampler()(f32([0, 4, -Infinity, 4]), 0).tokenId, 1);
  });

  it('refuses logits without any finite value', () => {
    assert.throws(() => greedySampler()(f32([-Infinity, -Infinity]), 0), RangeError);
    assert.throws(() => greedySampler({ logprob: false })(f32([-Infinity, -Infinity]), 0), RangeError);
  });

  it('without its logprob (not asked for) chooses the same token, ties and -Infinity included, and reports NaN', () => {
    const random = seededRandom(11);
    for (let round = 0; round < 50; round++) {
      // Few distinct values, so that ties are common; some ids masked.
      const logits = Float32Array.from({ length: 300 }, () => (random() < 0.1 ? -Infinity : Math.floor(random() * 8)));
      const full = greedySampler()(logits, 0);
      const bare = greedySampler({ logprob: false })(logits, 0);
      assert.equal(bare.tokenId, full.tokenId);
      assert.ok(Number.isNaN(bare.logprob));
    }
  });
});

describe('multinomialSampler', () => {
  it('is a function of (seed, index) only', () => {
    const logits = f32([0, 0.5, 1, 1.5, 2, -Infinity]);
    const a = multinomialSampler(123);
    const b = multinomialSampler(123n);
    const draws = Array.from({ length: 50 }, (_, i) => a(logits, i).tokenId);
    const again = Array.from({ length: 50 }, (_, i) => b(logits, 49 - i).tokenId).reverse();
    assert.deepEqual(draws, again);
    assert.ok(new Set(draws).size > 1, 'different indices give different draws');
    const other = Array.from({ length: 50 }, (_, i) => multinomialSampler(124)(logits, i).tokenId);
    assert.notDeepEqual(draws, other);
    assert.ok(!draws.includes(5), 'a -Infinity logit is never drawn');
  });

  it('reports the log-softmax of the drawn token', () => {
    const logits = f32([0, 1, 2]);
    const probs = softmax(logits);
    for (let i = 0; i < 20; i++) {
      const { tokenId, logprob } = multinomialSampler(9)(logits, i);
      assert.ok(Math.abs(logprob - Math.log(probs[tokenId]!)) < 1e-12);
      assert.ok(Math.abs(logprob - logSoftmaxAt(logits, tokenId)) < 1e-12);
    }
  });

  it('samples with the frequencies of the distribution (chi-square, fixed seed)', () => {
    const probs = [0.5, 0.25, 0.125, 0.0625, 0.0625];
    const logits = f32(probs.map(Math.log));
    const sample = multinomialSampler(2024);
    const n = 40000;
    const counts = new Array<number>(probs.length).fill(0);
    for (let i = 0; i < n; i++) counts[sample(logits, i).tokenId]!++;
    const chi = counts.reduce((s, c, k) => s + (c - n * probs[k]!) ** 2 / (n * probs[k]!), 0);
    // 4 degrees of freedom: 18.47 is the 0.1% critical value. A sampler that ignored the
    // distribution (uniform, or argmax) scores in the thousands.
    assert.ok(chi < 18.47, `chi-square ${chi}, counts ${counts}`);
  });

  it('draws the same over a whole vocabulary as over the short list of ids left by top-k', () => {
    // -1e4 below the max weighs exactly 0 in float64, so both arrays define one distribution; the
    // first has 5 ids with probability (short-list path), the second 10,000 (full-sweep path).
    const short = new Float32Array(10000).fill(-Infinity);
    const full = new Float32Array(10000).fill(-1e4);
    for (const [id, x] of [[3, 0.5], [700, 1.5], [701, 1], [5000, 0.2], [9999, 1.5]] as const) {
      short[id] = x;
      full[id] = x;
    }
    const a = multinomialSampler(31);
    const b = multinomialSampler(31);
    const drawn = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const fromShort = a(short, i);
      assert.deepEqual(b(full, i), fromShort);
      drawn.add(fromShort.tokenId);
    }
    assert.deepEqual([...drawn].sort((x, y) => x - y), [3, 700, 701, 5000, 9999]);
    assert.deepEqual(greedySampler()(full, 0), greedySampler()(short, 0));
    assert.equal(greedySampler()(full, 0).tokenId, 700);
  });

  it('never draws a token of zero probability, even for u close to 1', () => {
    const logits = f32([1, -Infinity, 1, -Infinity]);
    for (let i = 0; i < 2000; i++) assert.ok([0, 2].includes(multinomialSampler(5)(logits, i).tokenId));
  });
});

describe('createSampler / createTokenSelector', () => {
  const vocab = { vocabSize: 4, eopId: 3, forcedTokenId: 0 };

  it('is greedy when doSample is false or temperature is 0', () => {
    const logits = f32([0, 1, 1.1, 0.9, 50]);
    for (const params of [resolveSamplingParams({ doSample: false }), resolveSamplingParams({ temperature: 0 })]) {
      for (let i = 0; i < 20; i++) {
        const chosen = createTokenSelector(params, vocab)(Float32Array.from(logits), { tokenIds: [], tokenIndex: i });
        assert.equal(chosen.tokenId, 2, 'argmax within the tokenizer vocabulary');
      }
      assert.equal(createSampler(params)(f32([0, 2, 1]), 0).tokenId, 1);
    }
  });

  it('is greedy below MIN_SAMPLING_TEMPERATURE, where dividing the logits would overflow to NaN', () => {
    const logits = f32([0, 1, 1.1, 0.9, 50]);
    for (const temperature of [1e-40, Number.MIN_VALUE, MIN_SAMPLING_TEMPERATURE / 2]) {
      const chosen = createTokenSelector(resolveSamplingParams({ temperature, seed: 5 }), vocab)(Float32Array.from(logits), { tokenIds: [], tokenIndex: 0 });
      assert.equal(chosen.tokenId, 2, `temperature ${temperature}`);
      assert.ok(Number.isFinite(chosen.logprob));
    }
    // At the threshold it samples again (a distribution this sharp still picks the argmax).
    assert.equal(isGreedy(resolveSamplingParams({ temperature: MIN_SAMPLING_TEMPERATURE })), false);
  });

  it('samples the same token ids for the same seed and token indices, whatever ran before', () => {
    const params = resolveSamplingParams({ seed: 99n, topK: 3, topP: 0.95, temperature: 1.3 });
    const logits = f32([0.2, 0.1, 0.3, 0.25, 9]);
    const run = (order: number[]): number[] => {
      const select = createTokenSelector(params, vocab);
      const byIndex: number[] = [];
      for (const i of order) byIndex[i] = select(Float32Array.from(logits), { tokenIds: [1], tokenIndex: i }).tokenId;
      return byIndex;
    };
    const first = run([0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(run([7, 6, 5, 4, 3, 2, 1, 0]), first);
    assert.ok(first.every((id) => id !== 4 && id !== 1), 'masked id 4 and top-k-dropped id 1 never appear');
  });

  it('leaves out the logprob only where it is not asked for and greedy can skip it: alternatives asked for, or sampling, still get it', () => {
    const logits = f32([0, 1, 1.1, 0.9, 50]);
    const select = (params: ReturnType<typeof resolveSamplingParams>, options: { logprob?: boolean; topLogprobs?: number }) => createTokenSelector(params, vocab, options)(Float32Array.from(logits), { tokenIds: [], tokenIndex: 0 });
    const greedy = resolveSamplingParams({ temperature: 0 });
    const bare = select(greedy, { logprob: false });
    assert.equal(bare.tokenId, 2);
    assert.ok(Number.isNaN(bare.logprob));
    assert.ok(Number.isFinite(select(greedy, { logprob: false, topLogprobs: 2 }).logprob));
    assert.ok(Number.isFinite(select(resolveSamplingParams({ seed: 3 }), { logprob: false }).logprob));
  });
});
