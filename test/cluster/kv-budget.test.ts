// A pipeline whose stages' KV caches hold fewer positions than every slot at full length
// (--kv-cache-tokens): requests claim pages as they grow, the one admitted last is preempted when
// they run out (and prefilled again later, going on exactly as it would have), and a request that
// does not fit waits in the head, which then takes no more jobs from the queue.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createGenerateQueue } from '@chatglm/queue';
import { sseEvents } from '../support/sse-events.ts';
import { postJson, startTestCluster, waitUntil, type TestCluster } from '../support/test-cluster.ts';

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
    // a and b stream, so that what each is doing is seen as it happens (a heartbeat comes once a
    // second, and the tiny model can finish a long reply within two).
    // Two prompts of ~1100 tokens are 138 pages of 16: more than the cache's 128.
    const a = streamed(longChat(290, 3, 900));
    await waitUntil('a decoding', async () => a.tokens > 0, 30_000, 10);
    const b = streamed(longChat(290, 4, 8));
    await headStatsWhen((s) => s.waiting === 1, 'b waiting for pages in the head');
    const third = postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], seed: 5, max_tokens: 4 });
    // Once the third job is on the queue, a head that took jobs by its 4 slots would fetch it
    // within milliseconds; this one leaves it there.
    for (let jobs = 0; jobs < 3; ) {
      const counts = await queue.getJobCounts('waiting', 'active');
      jobs = (counts.waiting ?? 0) + (counts.active ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stillQueued = await queue.getWaitingCount();
    assert.ok(!a.done, `a still runs (it had ${a.tokens} of its 900 tokens)`);
    assert.equal(b.tokens, 0, 'b still waits');
    assert.equal(stillQueued, 1, 'the third job is still in the queue');
    await Promise.all([a.finished, b.finished]);
    assert.equal(a.tokens, 900);
    assert.equal(b.tokens, 8);
    const r = await third;
    assert.equal(r.status, 200, JSON.stringify(r.body));
  } finally {
    await queue.close();
  }
});

/** A streamed chat completion whose progress can be read while it runs. */
function streamed(body: object): { tokens: number; done: boolean; finished: Promise<void> } {
  const state = { tokens: 0, done: false, finished: Promise.resolve() };
  state.finished = (async () => {
    const res = await fetch(`${c.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true, logprobs: true }) });
    assert.equal(res.status, 200, await (res.ok ? Promise.resolve('') : res.text()));
    for await (const { data } of sseEvents(res.body!)) {
      if (data === '[DONE]') break;
      const chunk = JSON.parse(data) as { error?: { message: string }; choices?: { logprobs?: { content?: unknown[] } | null }[] };
      if (chunk.error) throw new Error(`the stream failed: ${chunk.error.message}`);
      state.tokens += chunk.choices?.[0]?.logprobs?.content?.length ?? 0;
    }
    state.done = true;
  })();
  return state;
}
