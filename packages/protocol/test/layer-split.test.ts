import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError, parseLayers, splitLayers, stageRange } from '../src/index.ts';

const counts = (n: number, s: number): number[] => splitLayers(n, s).map((r) => r.end - r.start);

test('splitLayers follows the documented examples', () => {
  assert.deepEqual(splitLayers(28, 2), [{ start: 0, end: 14 }, { start: 14, end: 28 }]);
  assert.deepEqual(counts(28, 4), [6, 8, 8, 6]);
  assert.deepEqual(splitLayers(4, 2), [{ start: 0, end: 2 }, { start: 2, end: 4 }]);
  assert.deepEqual(counts(28, 3), [9, 10, 9]);
  assert.deepEqual(counts(28, 8), [2, 4, 4, 4, 4, 4, 4, 2]);
  assert.deepEqual(counts(4, 4), [1, 1, 1, 1]);
  assert.deepEqual(splitLayers(28, 1), [{ start: 0, end: 28 }]);
  assert.deepEqual(counts(2, 2), [1, 1]);
});

test('splitLayers covers every layer once, gives each stage a layer, and balances units', () => {
  for (let n = 1; n <= 48; n++) {
    for (let s = 1; s <= n; s++) {
      const ranges = splitLayers(n, s);
      assert.equal(ranges.length, s);
      assert.equal(ranges[0]?.start, 0);
      assert.equal(ranges.at(-1)?.end, n);
      for (let i = 0; i < s; i++) {
        const r = ranges[i]!;
        assert.ok(r.end - r.start >= 1, `${n}/${s}: stage ${i} is empty`);
        if (i > 0) assert.equal(r.start, ranges[i - 1]!.end, `${n}/${s}: stage ${i} not contiguous`);
      }
      // Units: layers plus the embedding on the first stage and lm_head on the last.
      const units = ranges.map((r, i) => r.end - r.start + (i === 0 ? 1 : 0) + (i === s - 1 ? 1 : 0));
      if (n >= s + 2) assert.ok(Math.max(...units) - Math.min(...units) <= 1, `${n}/${s}: units ${units} are not balanced`);
      for (let i = 0; i < s; i++) assert.deepEqual(stageRange(n, i, s), ranges[i]);
    }
  }
});

test('splitLayers and stageRange refuse impossible splits', () => {
  assert.throws(() => splitLayers(4, 5), (e: unknown) => e instanceof ProtocolError && e.code === 'invalid_layers' && /cannot split 4 layers over 5 stages/.test(e.message));
  assert.throws(() => splitLayers(28, 0), /--stages must be a positive integer, got 0/);
  assert.throws(() => splitLayers(28, 1.5), /--stages must be a positive integer/);
  assert.throws(() => splitLayers(0, 1), /layer count must be a positive integer/);
  assert.throws(() => stageRange(28, 4, 4), /--stage 4 is out of range for --stages 4: stages are numbered 0..3/);
  assert.throws(() => stageRange(28, -1, 4), /--stage -1 is out of range/);
});

test('parseLayers reads inclusive ranges', () => {
  assert.deepEqual(parseLayers('14-27'), { start: 14, end: 28 });
  assert.deepEqual(parseLayers(' 0 - 13 ', 28), { start: 0, end: 14 });
  assert.deepEqual(parseLayers('5'), { start: 5, end: 6 });
  assert.deepEqual(parseLayers('27-27', 28), { start: 27, end: 28 });
});

test('parseLayers refuses malformed and out-of-model ranges', () => {
  for (const bad of ['', '14-', '-3', 'a-b', '14..27', '1-2-3', '14,27']) {
    assert.throws(() => parseLayers(bad), (e: unknown) => e instanceof ProtocolError && e.code === 'invalid_layers' && /is not a layer range: write FIRST-LAST/.test(e.message), bad);
  }
  assert.throws(() => parseLayers('20-14'), /the first layer \(20\) comes after the last \(14\)/);
  assert.throws(() => parseLayers('14-28', 28), /the model has 28 layers, numbered 0..27/);
});
