// closeAll runs every cleanup, in order, even when some fail, and then reports the failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closeAll } from '../src/index.ts';

test('every cleanup runs in order though earlier ones throw; the one failure is rethrown', async () => {
  const ran: string[] = [];
  await assert.rejects(
    closeAll([
      () => ran.push('a'),
      async () => {
        ran.push('b');
        throw new Error('b failed');
      },
      async () => {
        await new Promise((r) => setTimeout(r, 5));
        ran.push('c');
      },
    ]),
    /b failed/,
  );
  assert.deepEqual(ran, ['a', 'b', 'c']);
});

test('several failures come back together; none is an empty success', async () => {
  const boom = (m: string) => () => {
    throw new Error(m);
  };
  await assert.rejects(closeAll([boom('x'), boom('y')]), (e: unknown) => e instanceof AggregateError && e.errors.length === 2);
  await closeAll([]);
});
