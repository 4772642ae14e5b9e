import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { KthLargest, topK, topP } from '../src/index.ts';
import { seededRandom } from '@chatglm/common';
import { referenceTopK, referenceTopP } from './helpers/reference.ts';

const f32 = (values: number[]): Float32Array => Float32Array.from(values);
const none = { tokenIds: [] };
const kept = (logits: Float32Array): number[] => [...logits.keys()].filter((i) => logits[i] !== -Infinity);

describe('topK', () => {
  it('keeps logits >= the k-th largest and sets the rest to -Infinity', () => {
    const logits = f32([1, 5, 3, 4, 2]);
    topK(2)(logits, none);
    assert.deepEqual([...logits], [-Infinity, 5, -Infinity, 4, -Infinity]);
  });

  it('keeps every tie at the k-th value', () => {
    const logits = f32([1, 5, 3, 5, 3, 2]);
    topK(3)(logits, none);
    assert.deepEqual([...logits], [-Infinity, 5, 3, 5, 3, -Infinity]);
    const topTie = f32([1, 5, 3, 5]);
    topK(1)(topTie, none);
    assert.deepEqual(kept(topTie), [1, 3]);
  });

  it('keeps everything when k is at least the vocabulary size, and is off at 0', () => {
    for (const k of [0, 4, 5, 1000]) {
      const logits = f32([1, 2, 3, 4]);
      topK(k)(logits, none);
      assert.deepEqual([...logits], [1, 2, 3, 4]);
    }
  });

  it('keeps all when fewer than k logits are finite', () => {
    const logits = f32([-Infinity, 2, -Infinity, 1]);
    topK(3)(logits, none);
    assert.deepEqual([...logits], [-Infinity, 2, -Infinity, 1]);
  });

  it('matches the sort-based definition on random logits with ties, both selection paths', () => {
    const random = seededRandom(7);
    const kth = new KthLargest();
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + Math.floor(random() * 3000);
      const logits = new Float32Array(n);
      for (let i = 0; i < n; i++) logits[i] = random() < 0.1 ? -Infinity : Math.round(random() * 40) / 4;
      for (const k of [1, 2, 50, 1024, 1025, 2000, n]) {
        const sorted = [...logits].sort((a, b) => b - a);
        if (k <= n) assert.equal(kth.find(logits, k), sorted[k - 1], `trial ${trial} k ${k}`);
        const ours = Float32Array.from(logits);
        topK(k)(ours, none);
        assert.deepEqual(ours, referenceTopK(logits, k), `trial ${trial} k ${k}`);
      }
    }
  });
});

describe('topP', () => {
  it('keeps the smallest top set whose mass reaches p (hand-computed)', () => {
    // softmax [2, 1, 0, -1] = 0.644 / 0.237 / 0.087 / 0.032. Ascending cumsum 0.032, 0.119,
    // 0.356, 1: with p = 0.7 the first two are <= 0.3 and go.
    const logits = f32([2, 1, 0, -1]);
    topP(0.7)(logits, none);
    assert.deepEqual([...logits], [2, 1, -Infinity, -Infinity]);
  });

  it('keeps only a dominant token', () => {
    const logits = f32([0, 12, 0, 0]);
    topP(0.7)(logits, none);
    assert.deepEqual(kept(logits), [1]);
  });

  it('always keeps the most likely token, even at p = 0', () => {
    const logits = f32([1, 3, 2]);
    topP(0)(logits, none);
    assert.deepEqual(kept(logits), [1]);
  });

  it('is a no-op at p = 1', () => {
    const logits = f32([1, -50, 2, -Infinity]);
    topP(1)(logits, none);
    assert.deepEqual([...logits], [1, -50, 2, -Infinity]);
  });

  it('breaks ties like a stable ascending sort: higher ids survive at the cut', () => {
    // Four equal tokens, 0.25 each: ascending cumsum 0.25, 0.5, 0.75, 1.
    const p7 = f32([0, 0, 0, 0]);
    topP(0.7)(p7, none); // removes cum <= 0.3: the first in stable order, id 0
    assert.deepEqual(kept(p7), [1, 2, 3]);
    const p5 = f32([0, 0, 0, 0]);
    topP(0.5)(p5, none); // removes cum <= 0.5 exactly: ids 0 and 1
    assert.deepEqual(kept(p5), [2, 3]);
    const top = f32([5, 1, 5]);
    topP(0)(top, none);
    assert.deepEqual(kept(top), [2]);
  });

  it('matches the sort-everything definition on random logits', () => {
    const random = seededRandom(11);
    for (let trial = 0; trial < 200; trial++) {
      // Up to 9,000 logits: both the short-list path (<= 4,096 with probability) and the histogram one.
      const n = 2 + Math.floor(random() * 9000);
      const scale = [0.5, 3, 20][trial % 3]!;
      const logits = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const r = random();
        logits[i] = r < 0.05 ? -Infinity : trial % 4 === 0 ? Math.round(r * 8) : (random() - 0.5) * scale;
      }
      logits[Math.floor(random() * n)] = 1;
      const p = [0.1, 0.5, 0.7, 0.9, 0.99][trial % 5]!;
      const ours = Float32Array.from(logits);
      topP(p)(ours, none);
      assert.deepEqual(ours, referenceTopP(logits, p), `trial ${trial}, n ${n}, p ${p}`);
    }
  });

  it('handles a near-uniform 130,528-entry vocabulary (the histogram shortcut cannot help)', () => {
    const random = seededRandom(3);
    const logits = new Float32Array(130528);
    for (let i = 0; i < logits.length; i++) logits[i] = random() * 0.01;
    const ours = Float32Array.from(logits);
    topP(0.7)(ours, none);
    assert.deepEqual(ours, referenceTopP(logits, 0.7));
    assert.ok(Math.abs(kept(ours).length / logits.length - 0.7) < 0.01);
  });
});
