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

// Rows as a graph gives them, [heads, 1, tokens, headDim], each element naming its head and position.
function rowsOf(heads: number, headDim: number, from: number, tokens: number): Float32Array {
  const rows = new Float32Array(heads * tokens * headDim);
  for (let h = 0; h < heads; h++) for (let t = 0; t < tokens; t++) for (let d = 0; d < headDim; d++) rows[(h * tokens + t) * headDim + d] = 1000 * h + (from + t) + d / 100;
  return rows;
}

function appendAll(cache: KvCache, slot: number, tokens: number): void {
  const { heads, headDim, layers } = cache.shape;
  const rows = rowsOf(heads, headDim, cache.length(slot), tokens);
  cache.reserve(slot, tokens);
  for (const l of layers) cache.append(l, slot, rows, rows, { row: 0, rows: 1, tokens });
  cache.advance(slot, tokens);
}

test('a sequence takes a page per 4 positions as it grows, and reads back in order across pages', () => {
  const cache = new KvCache({ ...shape, capacity: 12, pageSize: 4 });
  const s = cache.allocate('s');
  assert.equal(cache.pagesInUse, 0);
  appendAll(cache, s, 5); // a prefill across a page boundary
  assert.equal(cache.pagesInUse, 2);
  for (let i = 0; i < 4; i++) appendAll(cache, s, 1); // decode steps
  assert.equal(cache.pagesInUse, 3);
  const { keys, values, length } = cache.read('s', 1);
  assert.equal(length, 9);
  assert.deepEqual(keys, rowsOf(shape.heads, shape.headDim, 0, 9));
  assert.deepEqual(values, keys);
  // The table covers the cached positions, padded to the longest sequence with page 0.
  const t = cache.allocate('t');
  appendAll(cache, t, 2);
  const { table, pages } = cache.pageTable([t, s]);
  assert.equal(pages, 3);
  assert.deepEqual([...table].map(Number), [4, 0, 0, 1, 2, 3]);
});

test('committed pages follow what is held at once, not what each slot once held', () => {
  // One long sequence at a time moving across slots, beside short ones: a slab per slot would
  // end up committing every slot at full length; the pool reuses the long one's pages.
  const cache = new KvCache({ ...shape, slots: 3, capacity: 12, pageSize: 4 });
  for (let round = 0; round < 3; round++) {
    const ids = [0, 1, 2].map((i) => `r${round}-${i}`);
    const slots = ids.map((id) => cache.allocate(id));
    slots.forEach((s, i) => appendAll(cache, s, i === round ? 12 : 2));
    assert.equal(cache.pagesInUse, 3 + 1 + 1);
    for (const id of ids) cache.release(id);
    assert.equal(cache.pagesInUse, 0);
  }
  assert.equal(cache.pagesTouched, 5);
  assert.equal(cache.bytesHeld, 0);
  assert.equal(cache.bytesCommitted, 5 * 4 * cache.bytesPerPosition);
  assert.throws(() => {
    const s = cache.allocate('long');
    appendAll(cache, s, 13);
  }, /needs 13 cached positions but this stage holds 12/);
});

test('a P-tuning prefix: its whole pages shared by every sequence, its tail copied into each one\'s first page', () => {
  const P = 6; // one whole page of 4 and a tail of 2
  const prefix = rowsOf(shape.heads, shape.headDim, 0, P);
  const cache = new KvCache({ ...shape, capacity: 12, pageSize: 4 }, { length: P, layers: shape.layers.map((layer) => ({ layer, keys: prefix, values: prefix })) });
  const a = cache.allocate('a');
  const b = cache.allocate('b');
  assert.equal(cache.pagesInUse, 2); // a tail page each; the shared page is not counted
  appendAll(cache, a, 3);
  appendAll(cache, b, 1);
  assert.deepEqual(cache.read('a', 0).keys, rowsOf(shape.heads, shape.headDim, 0, 9));
  assert.deepEqual(cache.read('b', 1).values, rowsOf(shape.heads, shape.headDim, 0, 7));
  const { table } = cache.pageTable([a, b]);
  assert.deepEqual([...table].map(Number), [1, 2, 4, 1, 3, 0]);
});

test('a budget of positions below every slot at full length: pages are shared, and one sequence too many gets kv_capacity', () => {
  // 3 slots of 12 positions would take 9 pages of 4; a budget of 20 positions holds 5.
  const cache = new KvCache({ ...shape, capacity: 12, pageSize: 4, totalPositions: 20 });
  assert.equal(cache.sequencePages, 5);
  assert.equal(cache.pagesAvailable, 5);
  const a = cache.allocate('a');
  const b = cache.allocate('b');
  appendAll(cache, a, 12); // 3 pages
  appendAll(cache, b, 8); // 2 pages: the budget is held
  assert.equal(cache.pagesAvailable, 0);
  // A step that cannot have its pages fails before taking any, and leaves the sequence as it was.
  assert.throws(() => cache.reserve(b, 1), (err: Error & { code?: string }) => err.code === 'kv_capacity' && /5 pages \(20 positions\) are held by running sequences; 1 more are needed/.test(err.message));
  assert.equal(cache.length(b), 8);
  assert.deepEqual(cache.read('b', 0).keys, rowsOf(shape.heads, shape.headDim, 0, 8));
  // Pages freed by one sequence are taken by another.
  cache.release('a');
  assert.equal(cache.pagesAvailable, 3);
  const c = cache.allocate('c');
  appendAll(cache, b, 1);
  appendAll(cache, c, 8);
  assert.equal(cache.pagesAvailable, 0);
  assert.deepEqual(cache.read('c', 1).keys, rowsOf(shape.heads, shape.headDim, 0, 8));
});

test('a budget too small for one sequence of full capacity is refused when the cache is made', () => {
  assert.throws(() => new KvCache({ ...shape, capacity: 12, pageSize: 4, totalPositions: 8 }), /a KV cache of 8 positions cannot hold one sequence of 12 positions: that takes 12/);
  // Rounded up to whole pages: 9 positions are 3 pages, enough for 12.
  assert.equal(new KvCache({ ...shape, capacity: 12, pageSize: 4, totalPositions: 9 }).sequencePages, 3);
});

test('with a P-tuning prefix, a sequence needs a free page for its copy of the prefix\'s tail', () => {
  const P = 2; // shorter than a page: copied into each sequence's first page
  const kv = new Float32Array(shape.heads * P * shape.headDim);
  const cache = new KvCache({ ...shape, capacity: 8, pageSize: 4, totalPositions: 8 }, { length: P, layers: shape.layers.map((layer) => ({ layer, keys: kv, values: kv })) });
  cache.allocate('a');
  cache.allocate('b');
  assert.equal(cache.pagesAvailable, 0);
  assert.throws(() => cache.allocate('c'), /are held by running sequences; 1 more are needed/);
  // The refused sequence holds no slot.
  assert.equal(cache.activeSequences, 2);
});
