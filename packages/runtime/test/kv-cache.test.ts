// KvCache's bookkeeping: slots, lengths and the positions cached (what the stage metrics report).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvCache } from '../src/kv-cache.ts';

const shape = { layers: [0, 1], heads: 2, headDim: 4, slots: 3, capacity: 10 };

test('cachedTokens counts the active sequences\' positions, and forgets a released one', () => {
  const cache = new KvCache(shape);
  const a = cache.allocate('a');
  const b = cache.allocate('b');
  cache.advance(a, 4);
  cache.advance(b, 2);
  assert.equal(cache.activeSequences, 2);
  assert.equal(cache.cachedTokens, 6);
  cache.release('a');
  assert.equal(cache.cachedTokens, 2);
});

test('cachedTokens leaves out the P-tuning prefix every slot holds', () => {
  const P = 3;
  const kv = new Float32Array(shape.heads * P * shape.headDim);
  const cache = new KvCache(shape, { length: P, layers: shape.layers.map((layer) => ({ layer, keys: kv, values: kv })) });
  const s = cache.allocate('s');
  assert.equal(cache.cachedTokens, 0);
  cache.advance(s, 5);
  assert.equal(cache.cachedTokens, 5);
});
