// A stage whose KV cache holds fewer positions than every slot at full length (kvCacheTokens): it
// reports its pages (the head admits by them), and a sequence that finds none free is refused
// (kv_capacity) without disturbing the ones that hold theirs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { glmPositions, promptLayout } from '@chatglm/glm';
import { ThreadedStageRuntime } from '@chatglm/runtime';
import { promptIds, randomTensors, tinyConfig } from '../../../test/support/models.ts';

const config = tinyConfig();
const tensors = randomTensors(config, 7);
const spec = { config, range: { start: 0, end: config.numLayers }, weights: { kind: 'memory' as const, tensors }, maxSequences: 4, maxTokensPerSequence: 32, threads: 1, spinning: false };

function prefillOf(seqId: string, prompt: number[]) {
  const layout = promptLayout(prompt, config);
  return { seqId, tokens: prompt, ...glmPositions(layout, 0, prompt.length), contextLength: layout.contextLength };
}

test('a stage with a KV budget reports its pages, and refuses a sequence only when they are all held', async () => {
  const long = promptIds(config, Array.from({ length: 18 }, (_, i) => 5 + i)); // 20 tokens: 2 pages
  const short = promptIds(config, [5, 6, 7]); // 1 page
  const next = glmPositions(promptLayout(long, config), long.length, 1);
  const decodeA = [{ seqId: 'a', token: 9, position: next.positions[0]!, blockPosition: next.blockPositions[0]! }];
  // What sequence a's next step gives on a stage without a budget.
  const reference = await ThreadedStageRuntime.create(spec);
  let expected: Float32Array | undefined;
  try {
    await reference.prefill(prefillOf('a', long));
    expected = (await reference.decode(decodeA)).logits;
  } finally {
    await reference.close();
  }
  // 48 positions: 3 pages of 16, for 4 slots of 32 positions (which would take 8).
  const stage = await ThreadedStageRuntime.create({ ...spec, kvCacheTokens: 48 });
  try {
    assert.equal(stage.info.kvPages, 3);
    assert.equal(stage.info.kvPageSize, 16);
    assert.equal((await stage.capacity()).kvTokensCapacity, 48);
    await stage.prefill(prefillOf('a', long));
    await assert.rejects(stage.prefill(prefillOf('b', long)), (err: Error & { code?: string }) => err.code === 'kv_capacity' && /3 pages \(48 positions\) are held by running sequences; 2 more are needed/.test(err.message));
    // The refused sequence holds nothing: the last page is still there for a short one.
    await stage.prefill(prefillOf('c', short));
    assert.equal((await stage.capacity()).activeSequences, 2);
    // a's pages were not touched: its next step gives what it gives without a budget.
    assert.deepEqual((await stage.decode(decodeA)).logits, expected);
  } finally {
    await stage.close();
  }
});

test('a budget that cannot hold one sequence of full length is refused when the stage loads', async () => {
  await assert.rejects(ThreadedStageRuntime.create({ ...spec, kvCacheTokens: 16 }), /a KV cache of 16 positions cannot hold one sequence of 32 positions: that takes 32/);
});
