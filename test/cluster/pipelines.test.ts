// Two pipelines consume one queue and both serve; bad input never reaches them and they keep serving.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BAD_INPUT_CASES, DUPLICATE_ID, assertBadInputReply } from '../../services/gateway/test/support/bad-input-cases.ts';
import { postJson, startTestCluster, type TestCluster } from '../support/test-cluster.ts';

let c: TestCluster;

before(async () => {
  c = await startTestCluster({ stages: 2, pipelines: 2, maxSequences: 4 });
});
after(async () => {
  await c?.stop();
});

test('two pipelines consume one queue and both serve requests', async () => {
  const replies = await Promise.all(
    Array.from({ length: 16 }, (_, i) => postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: `hello ${i}` }], seed: i, max_tokens: 24 })),
  );
  const servedBy = new Map<string, number>();
  for (const r of replies) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const state = await c.store.read(r.body.id);
    servedBy.set(state?.servedBy ?? '?', (servedBy.get(state?.servedBy ?? '?') ?? 0) + 1);
  }
  console.log(`requests per pipeline: ${JSON.stringify(Object.fromEntries(servedBy))}`);
  assert.deepEqual([...servedBy.keys()].sort(), ['local-0', 'local-1']);
  assert.deepEqual((await c.registry.live()).sort(), ['local-0', 'local-1']);
});

test(`${BAD_INPUT_CASES.length} kinds of bad input get their documented 4xx from the real cluster, which keeps serving`, async () => {
  assert.equal((await postJson(`${c.url}/chat`, { request_id: DUPLICATE_ID, query: 'first', max_length: 20 })).status, 200);
  for (const bad of BAD_INPUT_CASES) {
    const r = bad.method === 'GET' ? await fetch(`${c.url}${bad.path}`).then(async (res) => ({ status: res.status, body: await res.json() })) : await postJson(`${c.url}${bad.path}`, bad.body);
    assertBadInputReply(bad, r);
  }
  const ok = await postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'still there?' }], max_tokens: 5 });
  assert.equal(ok.status, 200);
  assert.equal((await postJson(`${c.url}/`, { prompt: 'hi', history: [], max_length: 30 })).status, 200);
  for (const [r, s] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) assert.ok(c.cluster.stage(r, s)?.ready, `pipeline ${r} stage ${s} is still up`);
});
