// The head's page budget from its stages' Info: pages only when some stage cannot hold every slot at full length.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kvPageBudget } from '../../src/head/kv-page-budget.ts';

// 4 slots of 64 tokens take 16 pages of 16 positions.
const full = { maxSequences: 4, maxTokensPerSequence: 64, kvPages: 16, kvPageSize: 16 };

test('stages that hold every slot at full length need no page budget: slots alone limit admission', () => {
  assert.equal(kvPageBudget([full, full], 0), undefined);
});

test('the stage with the fewest pages sets the budget', () => {
  assert.deepEqual(kvPageBudget([full, { ...full, kvPages: 6 }], 0), { pages: 6, pageSize: 16, prefixLength: 0 });
});

test("a P-tuning prefix's part past whole pages makes a full-length sequence take one more page", () => {
  // 64 tokens after 8 prefix positions: 72 positions from the sequence's first own page, 5 pages; 4 slots need 20.
  assert.deepEqual(kvPageBudget([full], 8), { pages: 16, pageSize: 16, prefixLength: 8 });
  assert.equal(kvPageBudget([{ ...full, kvPages: 20 }], 8), undefined);
});

test('stages that do not report pages (0) leave the budget to those that do', () => {
  const silent = { maxSequences: 4, maxTokensPerSequence: 64, kvPages: 0, kvPageSize: 0 };
  assert.equal(kvPageBudget([silent, silent], 0), undefined);
  assert.deepEqual(kvPageBudget([{ ...full, kvPages: 8 }, silent], 0), { pages: 8, pageSize: 16, prefixLength: 0 });
});

test('stages whose pages differ in size are refused', () => {
  assert.throws(() => kvPageBudget([full, { ...full, kvPageSize: 32, kvPages: 8 }], 0), /pages of 16 and 32 positions/);
});
