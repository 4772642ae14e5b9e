// A pipeline whose stages' KV caches hold fewer positions than every slot at full length
// (--kv-cache-tokens): requests claim pages as they grow, the one admitted last is preempted when
// they run out (and prefilled again later, going on exactly as it would have), and a request that
// does not fit waits in the head, which then takes no more jobs from the queue.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createGenerateQueue } from '@chatglm/queue';
import { postJson, startTestCluster, type TestCluster } from '../support/test-cluster.ts';

/** Positions in each stage's cache: 128 pages of 16, one sequence of the model's full 2048 (4 slots would take 512). */
const KV_CACHE_TOKENS = 2048;

let c: TestCluster;

before(async () => {
  // Replies never end by themselves: each request runs to its length limit.
  c = await startTestCluster({ stages: 2, maxSequences: 4, replies: 'endless', workerArgs: ['--kv-cache-tokens', String(KV_CACHE_TOKENS)] });
});
after(async () => {
  await c?.stop();
});

interface HeadStats {
  running: number;
  waiting: number;
  kvPagesClaimed: number;
  kvPages: number;
  preemptions: number;
}

/** The head's figures from the first heartbeat, taken from now on, for which `when` holds. */
async function headStatsWhen(when: (s: HeadStats) => boolean, what: string): Promise<HeadStats> {
  const since = Date.now();
  const deadline = since + 30_000;
  for (;;) {
    const stats = await c.registry.stats('local-0');
    if (stats && Number(stats.statsAt) >= since) {
      const s = { running: Number(stats.running), waiting: Number(stats.waiting), kvPagesClaimed: Number(stats.kvPagesClaimed), kvPages: Number(stats.kvPages), preemptions: Number(stats.preemptions) };
      if (when(s)) return s;
    }
    if (Date.now() > deadline) throw new Error(`the head's heartbeats never showed ${what}: last ${JSON.stringify(stats)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A chat of `words` words (about 3.8 tokens each with the tiny model's tokenizer). */
const longChat = (words: number, seed: number, maxTokens: number) => ({ messages: [{ role: 'user', content: Array.from({ length: words }, (_, i) => `w${i % 50}`).join(' ') }], seed, max_tokens: maxTokens });

test('two long requests that together outgrow the cache run together until it is full; the one admitted last is preempted, prefilled again later, and replies exactly as it does alone', async () => {
  const ask = (body: object) => postJson(`${c.url}/v1/chat/completions`, body);
  const bodies = [longChat(250, 1, 150), longChat(250, 2, 150)];
  // Alone, one at a time: each fits, nothing is preempted.
  const alone: Awaited<ReturnType<typeof ask>>[] = [];
  for (const body of bodies) alone.push(await ask(body));
  for (const r of alone) assert.equal(r.status, 200, JSON.stringify(r.body));
  const prompt = alone[0]!.body.usage.prompt_tokens as number;
  // Two prompts fit beside each other (with room for a position each), two whole replies do not.
  assert.ok(prompt >= 900 && prompt <= 1000, `a prompt of ${prompt} tokens, not the 900-1000 this test needs`);
  assert.equal((await headStatsWhen(() => true, 'a heartbeat')).preemptions, 0);

  const together = await Promise.all(bodies.map(ask));
  together.forEach((r, i) => {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.choices[0].message.content, alone[i]!.body.choices[0].message.content, `request ${i} replies as it does alone`);
    assert.equal(r.body.usage.completion_tokens, 150);
  });
  const stats = await headStatsWhen(() => true, 'a heartbeat after the replies');
  // Only two requests holding pages at once run the cache out.
  assert.ok(stats.preemptions >= 1, `one was preempted (${stats.preemptions})`);
  assert.equal(stats.kvPages, KV_CACHE_TOKENS / 16);
});

test('a request whose prompt does not fit beside a running one waits in the head, and the head takes no more jobs meanwhile: the next stays in the queue for another pipeline', async () => {
  const queue = createGenerateQueue(c.redis, c.prefix);
  try {
    const ask = (body: object) => postJson(`${c.url}/v1/chat/completions`, body);
    // Two prompts of ~1100 tokens are 138 pages of 16: more than the cache's 128.
    const a = ask(longChat(290, 3, 600));
    await headStatsWhen((s) => s.running === 1, 'a running');
    const b = ask(longChat(290, 4, 8));
    await headStatsWhen((s) => s.running === 1 && s.waiting === 1, 'b waiting for pages in the head');
    const third = ask({ messages: [{ role: 'user', content: 'hi' }], seed: 5, max_tokens: 4 });
    // Once the third job is on the queue, a head that took jobs by its 4 slots would fetch it
    // within milliseconds; this one leaves it there.
    for (let jobs = 0; jobs < 3; ) {
      const counts = await queue.getJobCounts('waiting', 'active');
      jobs = (counts.waiting ?? 0) + (counts.active ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const held = await headStatsWhen(() => true, 'a heartbeat');
    assert.deepEqual({ running: held.running, waiting: held.waiting }, { running: 1, waiting: 1 }, 'a still runs and b still waits');
    assert.equal(await queue.getWaitingCount(), 1, 'the third job is still in the queue');
    for (const r of await Promise.all([a, b, third])) assert.equal(r.status, 200, JSON.stringify(r.body));
  } finally {
    await queue.close();
  }
});
