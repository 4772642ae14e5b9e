// The workers' /metrics through a real 2-stage cluster: what the head and each stage report after
// serving requests agrees with what the clients got and with each other (every step runs on both
// stages; the head's activation bytes sent are the next stage's received).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Scrape } from '../support/prometheus-text.ts';
import { postJson, startTestCluster, waitUntil, type TestCluster } from '../support/test-cluster.ts';

let c: TestCluster;
before(async () => {
  // Endless replies: a request runs until its max_tokens, long enough to be seen running.
  c = await startTestCluster({ stages: 2, replies: 'endless' });
});
after(async () => {
  await c?.stop();
});

function targets(): { head: string; stage: string; gateway: string } {
  const byName = new Map(c.cluster.metricsTargets().map((t) => [t.name, t.url]));
  const head = byName.get('pipeline 0 stage 0');
  const stage = byName.get('pipeline 0 stage 1');
  const gateway = byName.get('gateway');
  assert.ok(head && stage && gateway, `every process has a metrics target: ${JSON.stringify([...byName])}`);
  return { head, stage, gateway };
}

test('head and stage metrics agree with the replies and with each other', async () => {
  const t = targets();
  const replies = await Promise.all([0, 1, 2].map((i) => postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 12, temperature: 0 })));
  for (const r of replies) assert.equal(r.status, 200, JSON.stringify(r.body));
  const completionTokens = replies.reduce((sum, r) => sum + (r.body.usage.completion_tokens as number), 0);
  // The last updates' bookkeeping (releases, counters) may land just after the replies.
  await waitUntil('the KV slots to be released', async () => (await Scrape.fetch(t.stage)).value('chatglm_stage_kv_slots_used') === 0, 10_000);
  const [head, stage, gateway] = await Promise.all([Scrape.fetch(t.head), Scrape.fetch(t.stage), Scrape.fetch(t.gateway)]);

  // Every series carries the process's identity.
  assert.equal(head.value('process_start_time_seconds', { service: 'head', pipeline: 'local-0' }) > 0, true);
  const [headLayers, stageLayers] = [head.find('process_start_time_seconds')[0]!.labels.stage, stage.find('process_start_time_seconds')[0]!.labels.stage];
  assert.match(headLayers ?? '', /^0-\d+$/);
  assert.equal(stage.find('process_start_time_seconds', { service: 'stage', pipeline: 'local-0' }).length, 1);
  assert.equal(Number(stageLayers?.split('-')[0]), Number(headLayers?.split('-')[1]) + 1, 'the stage holds the layers after the head\'s');

  // The head: three prefills, the tokens the clients got, three ended sequences, three waits.
  assert.equal(head.value('chatglm_head_prefills_total'), 3);
  assert.equal(head.value('chatglm_head_generated_tokens_total'), completionTokens);
  assert.equal(gateway.value('chatglm_gateway_completion_tokens_total', { endpoint: 'openai' }), completionTokens);
  assert.equal(head.sum('chatglm_head_finished_sequences_total'), 3);
  assert.equal(head.value('chatglm_head_queue_wait_seconds_count'), 3);
  assert.equal(head.value('chatglm_head_running_sequences'), 0);
  assert.equal(head.value('chatglm_head_capacity_sequences'), 16);
  // Each prefill samples one token and each decode step one per sequence it carries.
  const decodeSteps = head.value('chatglm_head_decode_batch_size_count');
  assert.equal(head.value('chatglm_head_decode_batch_size_sum') + 3, completionTokens);

  // Both stages ran every step: the head's own layers are a stage too.
  for (const s of [head, stage]) {
    assert.equal(s.value('chatglm_stage_forward_seconds_count', { phase: 'prefill' }), 3);
    assert.equal(s.value('chatglm_stage_forward_seconds_count', { phase: 'decode' }), decodeSteps);
    assert.ok(s.value('chatglm_stage_forward_seconds_sum', { phase: 'decode' }) > 0);
    assert.equal(s.value('chatglm_stage_kv_slots_total'), 16);
    assert.equal(s.value('chatglm_stage_kv_slots_used'), 0);
    assert.equal(s.value('chatglm_stage_kv_cached_tokens'), 0);
    // The finished sequences handed their pages back; the memory they wrote stays with the process.
    assert.equal(s.value('chatglm_stage_kv_bytes_held'), 0);
    assert.ok(s.value('chatglm_stage_kv_bytes_committed') > 0);
    assert.ok(s.value('chatglm_stage_model_load_seconds') > 0);
  }
  const sent = head.value('chatglm_stage_activation_bytes_total', { direction: 'sent' });
  assert.ok(sent > 0);
  assert.equal(stage.value('chatglm_stage_activation_bytes_total', { direction: 'received' }), sent);
  assert.equal(stage.find('chatglm_stage_activation_bytes_total', { direction: 'sent' }).reduce((a, s) => a + s.value, 0), 0, 'the last stage sends tokens, not activations');
});

test('the metrics port answers probes: /healthz while the process runs, /readyz once a stage serves and while a head\'s pipeline is whole', async () => {
  const t = targets();
  for (const url of [t.head, t.stage]) {
    for (const probe of ['/healthz', '/readyz']) {
      const res = await fetch(url.replace('/metrics', probe));
      assert.equal(res.status, 200, `${url} ${probe}`);
    }
  }
  assert.equal((await fetch(t.stage.replace('/metrics', '/nothing'))).status, 404);
});

test('while a request runs, its KV slot and cached positions show on both stages', async () => {
  const t = targets();
  const controller = new AbortController();
  const running = fetch(`${c.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'a long one' }], max_tokens: 400, stream: true }),
    signal: controller.signal,
  });
  try {
    const res = await running;
    const reader = res.body!.getReader();
    await reader.read(); // the stream is open and generating
    const [head, stage] = await Promise.all([
      waitUntil('a slot in use on the head', async () => { const s = await Scrape.fetch(t.head); return s.value('chatglm_stage_kv_slots_used') === 1 && s; }, 10_000),
      waitUntil('a slot in use on the stage', async () => { const s = await Scrape.fetch(t.stage); return s.value('chatglm_stage_kv_slots_used') === 1 && s; }, 10_000),
    ]);
    for (const s of [head, stage]) {
      assert.ok(s.value('chatglm_stage_kv_cached_tokens') > 0);
      assert.ok(s.value('chatglm_stage_kv_bytes_held') > 0);
      assert.ok(s.value('chatglm_stage_kv_bytes_committed') >= s.value('chatglm_stage_kv_bytes_held'));
    }
    assert.equal(head.value('chatglm_head_running_sequences'), 1);
  } finally {
    controller.abort();
  }
});
