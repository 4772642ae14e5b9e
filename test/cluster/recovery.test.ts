// An accepted request is never lost or duplicated when a worker dies: the job is retried and the
// new attempt resumes from the tokens already streamed. Sampling draws from (seed, token index),
// so the resumed reply is exactly the reply an uninterrupted run gives.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EngineReference } from '../support/engine-reference.ts';
import { Scrape } from '../support/prometheus-text.ts';
import { postJson, startTestCluster, waitUntil, type TestCluster } from '../support/test-cluster.ts';

let c: TestCluster;
let engine: EngineReference;

before(async () => {
  c = await startTestCluster({ stages: 2, replies: 'random', workerArgs: ['--lock-duration-ms', '2000'] });
  engine = await EngineReference.open(c.modelDir);
});
after(async () => {
  await engine?.close();
  await c?.stop();
});

async function survives(kill: () => void, seed: number): Promise<void> {
  const maxTokens = 1200;
  const pending = postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: '你好' }], seed, max_tokens: maxTokens });
  const id = await waitUntil('the request to start', async () => {
    const keys = await c.redis.keys(`${c.prefix}:req:chatcmpl-*`);
    const req = keys.find((k) => /:req:chatcmpl-[^:]+$/.test(k)); // the request's hash, not its text, tokens or events
    const s = req ? await c.store.read(req.slice(`${c.prefix}:req:`.length)) : undefined;
    return s && s.tokenIds.length >= 30 ? s.id : undefined;
  });
  kill();
  const res = await pending;
  assert.equal(res.status, 200, `${JSON.stringify(res.body)}\n${c.logs.slice(-40).join('\n')}`);
  const state = await c.store.read(id);
  assert.ok((state?.attempts ?? 0) >= 2, `the job should have run again after the kill (attempts ${state?.attempts})`);
  const ref = await engine.run('你好', { seed: BigInt(seed), maxNewTokens: maxTokens });
  assert.deepEqual(state?.tokenIds, ref.tokenIds, 'the resumed reply equals an uninterrupted one');
  assert.equal(res.body.choices[0].message.content, ref.text);
  const events = await c.store.readEvents(id);
  const streamed = events.filter((e) => e.type === 'delta').map((e) => (e as { text: string }).text).join('');
  assert.equal(streamed, ref.text, 'the streamed deltas show every piece of text exactly once');
  await c.store.remove(id);
  // The head that finished the request shows it as resumed.
  const head = c.cluster.metricsTargets().find((t) => t.name === 'pipeline 0 stage 0')!;
  assert.ok((await Scrape.fetch(head.url)).value('chatglm_head_resumed_requests_total') >= 1, 'the resume is visible in the head\'s metrics');
}

test('killing a middle stage mid-reply: the launcher restarts it, the head reconnects, the job resumes', async () => {
  await survives(() => c.cluster.stage(0, 1)!.kill('SIGKILL'), 77);
  // The head outlived the kill: it handed the attempt back to the queue.
  const head = c.cluster.metricsTargets().find((t) => t.name === 'pipeline 0 stage 0')!;
  assert.ok((await Scrape.fetch(head.url)).value('chatglm_head_job_retries_total') >= 1);
});

test('killing the head mid-reply: its job is taken over after the lock expires and resumes', async () => {
  await survives(() => c.cluster.stage(0, 0)!.kill('SIGKILL'), 78);
});
