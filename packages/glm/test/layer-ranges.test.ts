import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatGlmError } from '@chatglm/common';
import { formatLayers, layerChainProblems, parseLayers, rangesByLayersPerStage, sameLayers, splitLayers, stageRange, validateRange, type NamedLayerRange } from '@chatglm/glm';

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
  assert.throws(() => splitLayers(4, 5), (e: unknown) => e instanceof ChatGlmError && e.code === 'invalid_layers' && /cannot split 4 layers over 5 stages/.test(e.message));
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
    assert.throws(() => parseLayers(bad), (e: unknown) => e instanceof ChatGlmError && e.code === 'invalid_layers' && /is not a layer range: write FIRST-LAST/.test(e.message), bad);
  }
  assert.throws(() => parseLayers('20-14'), /the first layer \(20\) comes after the last \(14\)/);
  assert.throws(() => parseLayers('14-28', 28), /the model has 28 layers, numbered 0..27/);
});

test('validateRange accepts a range of the model and refuses others with invalid_layers', () => {
  validateRange({ numLayers: 28 }, { start: 0, end: 28 });
  validateRange({ numLayers: 28 }, { start: 27, end: 28 });
  for (const bad of [{ start: -1, end: 4 }, { start: 0, end: 29 }, { start: 5, end: 5 }, { start: 6, end: 5 }, { start: 0.5, end: 4 }]) {
    assert.throws(
      () => validateRange({ numLayers: 28 }, bad),
      (e: unknown) => e instanceof ChatGlmError && e.code === 'invalid_layers' && e.message === `layer range [${bad.start}, ${bad.end}) is invalid for a model of 28 layers`,
      JSON.stringify(bad),
    );
  }
});

test('sameLayers compares both ends; formatLayers writes them as --layers does', () => {
  assert.ok(sameLayers({ start: 14, end: 28 }, { start: 14, end: 28 }));
  assert.ok(!sameLayers({ start: 14, end: 28 }, { start: 14, end: 27 }));
  assert.ok(!sameLayers({ start: 0, end: 4 }, { start: 1, end: 4 }));
  assert.equal(formatLayers({ start: 14, end: 28 }), 'layers 14-27');
  assert.equal(formatLayers({ start: 5, end: 6 }), 'layers 5-5');
  assert.deepEqual(parseLayers(formatLayers({ start: 14, end: 28 }).slice('layers '.length)), { start: 14, end: 28 });
  assert.equal(formatLayers({ start: 12, end: 12 }), 'the empty layer range [12, 12)');
});

const named = (...ranges: [string, number, number][]): NamedLayerRange[] => ranges.map(([name, start, end]) => ({ name, start, end }));

test('layerChainProblems accepts contiguous chains from layer 0 to the last layer', () => {
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 28]), 28), []);
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 12], ['stage 1', 12, 20], ['stage 2', 20, 28]), 28), []);
  for (let s = 1; s <= 28; s++) {
    assert.deepEqual(layerChainProblems(splitLayers(28, s).map((r, i) => ({ name: `stage ${i}`, ...r })), 28), [], `${s} stages`);
  }
});

test('layerChainProblems names the stage of a gap or an overlap', () => {
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 12], ['stage 1', 14, 28]), 28), [
    'stage 1 holds layers [14, 28) but the previous stage, stage 0, ends at layer 12: layers 12..13 are not served',
  ]);
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 12], ['stage 1', 13, 28]), 28), [
    'stage 1 holds layers [13, 28) but the previous stage, stage 0, ends at layer 12: layer 12 is not served',
  ]);
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 20], ['stage 1', 18, 28]), 28), [
    'stage 1 holds layers [18, 28) but the previous stage, stage 0, ends at layer 20: layers 18..19 are served twice',
  ]);
  assert.deepEqual(layerChainProblems(named(['a', 0, 20], ['b', 19, 28]), 28), ['b holds layers [19, 28) but the previous stage, a, ends at layer 20: layer 19 is served twice']);
});

test('layerChainProblems names the stage that misses the first or the last layer', () => {
  assert.deepEqual(layerChainProblems(named(['stage 0', 2, 14], ['stage 1', 14, 28]), 28), ['stage 0 holds layers [2, 14) but must start at layer 0: it embeds the tokens']);
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 14], ['stage 1', 14, 26]), 28), [
    'the chain ends at layer 26 (stage 1) but the model has 28 layers: layers 26..27 are not served (is a stage missing downstream of stage 1?)',
  ]);
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 27]), 28), [
    'the chain ends at layer 27 (stage 0) but the model has 28 layers: layer 27 is not served (is a stage missing downstream of stage 0?)',
  ]);
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 14], ['stage 1', 14, 30]), 28), ['stage 1 holds layers up to 30 but the model has only 28']);
});

test('layerChainProblems names an empty range and lists every problem', () => {
  assert.deepEqual(layerChainProblems(named(['stage 0', 0, 12], ['stage 1', 12, 12], ['stage 2', 12, 28]), 28), ['stage 1 holds the empty layer range [12, 12)']);
  assert.deepEqual(layerChainProblems(named(['stage 0', 1, 1], ['stage 1', 3, 20]), 28), [
    'stage 0 holds layers [1, 1) but must start at layer 0: it embeds the tokens',
    'stage 0 holds the empty layer range [1, 1)',
    'stage 1 holds layers [3, 20) but the previous stage, stage 0, ends at layer 1: layers 1..2 are not served',
    'the chain ends at layer 20 (stage 1) but the model has 28 layers: layers 20..27 are not served (is a stage missing downstream of stage 1?)',
  ]);
  assert.deepEqual(layerChainProblems([], 28), ['no stage holds any layer but the model has 28']);
});

test('rangesByLayersPerStage cuts fixed-size ranges, the last one taking the remainder', () => {
  assert.deepEqual(rangesByLayersPerStage(28, 28), [{ start: 0, end: 28 }]);
  assert.deepEqual(rangesByLayersPerStage(28, 100), [{ start: 0, end: 28 }]);
  assert.deepEqual(rangesByLayersPerStage(28, 14), [{ start: 0, end: 14 }, { start: 14, end: 28 }]);
  assert.deepEqual(rangesByLayersPerStage(4, 3), [{ start: 0, end: 3 }, { start: 3, end: 4 }]);
  assert.deepEqual(rangesByLayersPerStage(4, 1), [{ start: 0, end: 1 }, { start: 1, end: 2 }, { start: 2, end: 3 }, { start: 3, end: 4 }]);
  for (let n = 1; n <= 30; n++) {
    for (let k = 1; k <= n + 1; k++) assert.deepEqual(layerChainProblems(rangesByLayersPerStage(n, k).map((r, i) => ({ name: `stage ${i}`, ...r })), n), [], `${n} by ${k}`);
  }
  for (const bad of [0, -2, 1.5, Number.NaN]) {
    assert.throws(() => rangesByLayersPerStage(28, bad), (e: unknown) => e instanceof ChatGlmError && e.code === 'invalid_pipeline' && /layers per stage must be a positive integer/.test(e.message), String(bad));
  }
});
