// A pipeline whose stages' KV caches hold fewer positions than every slot at full length
// (--kv-cache-tokens): the head admits a request only while its whole length fits, so long
// requests take turns while short ones share the cache, and every request still gets its full length.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createGenerateQueue } from '@chatglm/queue';
import { postJson, startTestCluster, type TestCluster } from '../support/test-cluster.ts';

/** Positions per sequence (--max-tokens) and in each stage's cache (--kv-cache-tokens): 32 and 48 pages of 16. */
const MAX_TOKENS = 512;
const KV_CACHE_TOKENS = 768;

let c: TestCluster;

before(async () => {
  // Replies never end by themselves: each request runs to its length limit.
  c = await startTestCluster({ stages: 2, maxSequences: 4, replies: 'endless', workerArgs: ['--max-tokens', String(MAX_TOKENS), '--kv-cache-tokens', String(KV_CACHE_TOKENS)] });
});
after(async () => {
  await c?.stop();
});

interface HeadStats {
  running: number;
  waiting: number;
  kvPagesClaimed: number;
  kvPages: number;
  maxBatchSize: number;
  decodeSteps: number;
}

/** The head's figures from the first heartbeat, taken from now on, for which `when` holds. */
async function headStatsWhen(when: (s: HeadStats) => boolean, what: string): Promise<HeadStats> {
  const since = Date.now();
  const deadline = since + 30_000;
  for (;;) {
    const stats = await c.registry.stats('local-0');
    if (stats && Number(stats.statsAt) >= since) {
      const s = { running: Number(stats.running), waiting: Number(stats.waiting), kvPagesClaimed: Number(stats.kvPagesClaimed), kvPages: Number(stats.kvPages), maxBatchSize: Number(stats.maxBatchSize), decodeSteps: Number(stats.decodeSteps) };
      if (when(s)) return s;
    }
    if (Date.now() > deadline) throw new Error(`the head's heartbeats never showed ${what}: last ${JSON.stringify(stats)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('requests that may each grow to a full sequence (32 of the 48 pages) run one at a time, each to its full length; one waits in the head, the next in the queue', async () => {
  const queue = createGenerateQueue(c.redis, c.prefix);
  try {
    // No max_tokens: each may grow to the pipeline's 512 positions.
    const ask = (seed: number) => postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], seed });
    const a = ask(1);
    await headStatsWhen((s) => s.running === 1, 'a running');
    const b = ask(2);
    await headStatsWhen((s) => s.running === 1 && s.waiting === 1, 'b waiting for pages in the head');
    const third = ask(3);
    // Once the third job is on the queue, a head that took jobs by its 4 slots would fetch it
    // within milliseconds; this one leaves it there, for a pipeline with room.
    for (let jobs = 0; jobs < 3; ) {
      const counts = await queue.getJobCounts('waiting', 'active');
      jobs = (counts.waiting ?? 0) + (counts.active ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const held = await headStatsWhen(() => true, 'a heartbeat');
    assert.deepEqual({ running: held.running, waiting: held.waiting }, { running: 1, waiting: 1 });
    assert.deepEqual({ claimed: held.kvPagesClaimed, pages: held.kvPages }, { claimed: 32, pages: 48 }, 'a claims its whole length; b would need 32 more');
    assert.equal(await queue.getWaitingCount(), 1, 'the third job is still in the queue');
    for (const r of await Promise.all([a, b, third])) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.choices[0].finish_reason, 'length');
      assert.equal(r.body.usage.prompt_tokens + r.body.usage.completion_tokens, MAX_TOKENS, 'each request reached the 512 positions a sequence holds');
    }
    const stats = await headStatsWhen(() => true, 'a heartbeat after the replies');
    assert.ok(stats.decodeSteps > 0);
    assert.equal(stats.maxBatchSize, 1, 'no two of them decoded together (4 free slots, but not 64 free pages)');
  } finally {
    await queue.close();
  }
});

test('short requests (2 pages each) share the cache: three decode together', async () => {
  const replies = await Promise.all([4, 5, 6].map((seed) => postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], seed, max_tokens: 12 })));
  for (const r of replies) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.usage.completion_tokens, 12);
    assert.ok(r.body.usage.prompt_tokens + 12 <= 32, `a prompt of ${r.body.usage.prompt_tokens} tokens and 12 new ones fit in 2 pages`);
  }
  const stats = await headStatsWhen(() => true, 'a heartbeat after the replies');
  assert.ok(stats.maxBatchSize >= 2, `decode batches of ${stats.maxBatchSize} (two micro-batches in flight: three running requests make batches of 2 and 1)`);
});
