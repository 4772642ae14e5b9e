// The distributed serving path end to end: gateway -> BullMQ -> pipeline head -> gRPC stage ->
// streamed text, with real processes and a real Redis, driven over HTTP as a client would.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ChatGlmError } from '@chatglm/common';
import { StageClient } from '@chatglm/protocol';
import { EngineReference } from '../support/engine-reference.ts';
import { postJson, startTestCluster, waitUntil, type TestCluster } from '../support/test-cluster.ts';

let c: TestCluster;
let engine: EngineReference;

before(async () => {
  // Purely random weights: replies rarely end by themselves, so lengths are set by the requests.
  c = await startTestCluster({ stages: 2, replies: 'random' });
  engine = await EngineReference.open(c.modelDir);
});
after(async () => {
  await engine?.close();
  await c?.stop();
});


async function completion(body: Record<string, unknown>) {
  const res = await postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: '你好' }], ...body });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { id: string; choices: { message: { content: string }; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
}

describe('interfaces on a 2-stage pipeline', () => {
  test('health, readiness and models', async () => {
    assert.equal((await fetch(`${c.url}/healthz`)).status, 200);
    const ready = await fetch(`${c.url}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const models = (await (await fetch(`${c.url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.equal(models.data[0]?.id, 'chatglm-6b');
  });

  test('POST / like api.py: response, history with the new turn, status, time', async () => {
    const res = await postJson(`${c.url}/`, { prompt: '你好', history: [['hi', 'hello']], max_length: 48 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 200);
    assert.equal(typeof res.body.response, 'string');
    assert.deepEqual(res.body.history, [['hi', 'hello'], ['你好', res.body.response]]);
    assert.match(res.body.time, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  });

  test('/v1/chat/completions: length-limited reply with usage', async () => {
    const r = await completion({ max_tokens: 12, seed: 5 });
    assert.equal(r.choices[0]?.finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 12);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
    const state = await c.store.read(r.id);
    assert.equal(state?.tokenIds.length, 12);
    assert.equal(state?.text, r.choices[0]?.message.content);
  });

  test('the official openai client streams a chat completion unchanged, with a final usage chunk', async () => {
    const client = new OpenAI({ baseURL: `${c.url}/v1`, apiKey: 'unused' });
    const stream = await client.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: '你好' }], max_tokens: 16, seed: 9, stream: true });
    let text = '';
    let finish: string | null | undefined;
    let usage: { completion_tokens: number } | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(chunks > 2, 'the reply arrives in several chunks');
    assert.equal(finish, 'length');
    assert.equal(usage?.completion_tokens, 16);
    const whole = await completion({ max_tokens: 16, seed: 9 });
    assert.equal(text, whole.choices[0]?.message.content, 'streamed deltas concatenate to the non-streamed reply of the same seed');
  });
});

describe('the pipeline reproduces the in-process engine', () => {
  for (const [name, params] of [
    ['greedy', { temperature: 0 }],
    ['sampled (seeded)', { seed: 1234, temperature: 0.95, top_p: 0.7 }],
  ] as const) {
    test(`${name}: same tokens and text as the engine for the same seed`, async () => {
      const r = await completion({ max_tokens: 40, ...params });
      const state = await c.store.read(r.id);
      const ref = await engine.run('你好', {
        maxNewTokens: 40,
        ...('seed' in params ? { seed: BigInt(params.seed), temperature: params.temperature, topP: params.top_p } : { temperature: 0 }),
      });
      assert.deepEqual(state?.tokenIds, ref.tokenIds);
      assert.equal(r.choices[0]?.message.content, ref.text);
    });
  }
});

describe('logprobs', () => {
  test('the official openai client gets each token\'s logprob, as the in-process engine computes it, and the top alternatives', async () => {
    const client = new OpenAI({ baseURL: `${c.url}/v1`, apiKey: 'unused' });
    const r = await client.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: '你好' }], max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]?.logprobs?.content ?? [];
    const ref = await engine.run('你好', { maxNewTokens: 12, temperature: 0 });
    assert.equal(content.length, ref.tokenIds.length, 'one entry per generated token');
    // The reply drops the space a word-initial token has at its very start; the token keeps it.
    assert.equal(content.map((t) => t.token).join('').trimStart(), r.choices[0]?.message.content, 'the tokens spell the reply');
    content.forEach((t, i) => {
      assert.ok(Math.abs(t.logprob - (ref.logprobs[i] ?? NaN)) < 1e-5, `token ${i}: logprob ${t.logprob}, the engine's ${ref.logprobs[i]}`);
      assert.equal(t.top_logprobs.length, 3);
      const top = t.top_logprobs.map((a) => a.logprob);
      assert.deepEqual(top, [...top].sort((a, b) => b - a), 'most likely first');
      // Greedy: the chosen token is the most likely one.
      assert.deepEqual([t.top_logprobs[0]?.token, t.top_logprobs[0]?.logprob], [t.token, t.logprob]);
    });
    // Logprobs without alternatives: the last stage still computes each greedy token's logprob
    // (it skips that softmax only when no logprobs are asked for).
    const bare = await client.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: '你好' }], max_tokens: 12, temperature: 0, logprobs: true });
    const bareLogprobs = (bare.choices[0]?.logprobs?.content ?? []).map((t) => t.logprob);
    assert.equal(bareLogprobs.length, ref.tokenIds.length);
    bareLogprobs.forEach((l, i) => assert.ok(Math.abs(l - (ref.logprobs[i] ?? NaN)) < 1e-5, `token ${i}: logprob ${l}, the engine's ${ref.logprobs[i]}`));
  });
});

describe('continuous batching', () => {
  test('16 concurrent requests are batched and each gets the text it gets alone', async () => {
    const prompts = Array.from({ length: 16 }, (_, i) => ({ content: `问题 ${i}`, seed: 100 + i, max_tokens: 10 + (i % 5) * 6 }));
    const ask = (p: (typeof prompts)[number]) =>
      postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: p.content }], seed: p.seed, max_tokens: p.max_tokens }).then((r) => {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.choices[0].message.content as string;
      });
    const alone: string[] = [];
    for (const p of prompts) alone.push(await ask(p));
    type Stats = { maxBatchSize: number; decodeSteps: number; running: number; batchSizes: Record<string, number>; stageBusyMs: Record<string, number>; statsAt: number };
    // Heartbeats carry the stats once a second: each reading must be one taken after the phase it
    // closes (statsAt), or a stale one would mix the two phases.
    const statsAfter = (what: string, since: number, ok: (s: Stats) => boolean = () => true) =>
      waitUntil(what, async () => {
        const s = (await c.registry.stats('local-0')) as Stats;
        return s.statsAt > since && ok(s) ? s : undefined;
      });
    const before = await statsAfter('scheduler stats after the one-at-a-time run', Date.now());
    const together = await Promise.all(prompts.map(ask));
    assert.deepEqual(together, alone);
    const stats = await statsAfter('scheduler stats after the concurrent run', Date.now(), (s) => s.running === 0);
    assert.ok(stats.decodeSteps > before.decodeSteps);
    // Each stage's compute time, summed from the steps' timings: both stages worked, neither longer than the run.
    const stages = Object.keys(stats.stageBusyMs);
    assert.equal(stages.length, 2, JSON.stringify(stats.stageBusyMs));
    for (const k of stages) {
      const worked = stats.stageBusyMs[k]! - (before.stageBusyMs[k] ?? 0);
      assert.ok(worked > 0 && worked <= stats.statsAt - before.statsAt, `stage ${k} busy ${worked} ms in ${stats.statsAt - before.statsAt} ms`);
    }
    const batched = Object.entries(stats.batchSizes).filter(([size]) => Number(size) > 1);
    console.log(`scheduler batch sizes (size: decode steps): ${JSON.stringify(stats.batchSizes)}`);
    assert.ok(stats.maxBatchSize > 1 && batched.length > 0, `no decode step carried more than one sequence: ${JSON.stringify(stats)}`);
  });
});

describe('the original stream API (poller)', () => {
  test('/get_response returns growing text, is_handled once started, is_finished at the end; cursor deltas concatenate', async () => {
    const id = `poll-${Date.now()}`;
    const start = await postJson(`${c.url}/chat`, { request_id: id, query: '你好', history: [], max_length: 600 });
    assert.deepEqual(start, { status: 200, body: { code: 0, msg: 'start process' } });
    const seen: string[] = [];
    let cursor = 0;
    let deltas = '';
    let last: any;
    for (;;) {
      const full = await postJson(`${c.url}/get_response`, { request_id: id });
      assert.equal(full.status, 200);
      const r = full.body.response;
      if (r.is_handled || r.is_finished) assert.equal(r.is_handled, true);
      if (seen.length === 0 || seen.at(-1) !== r.response) seen.push(r.response);
      const inc = await postJson(`${c.url}/get_response`, { request_id: id, cursor });
      deltas += inc.body.response.response;
      cursor = inc.body.response.cursor;
      last = r;
      if (r.is_finished && inc.body.response.is_finished) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    const final = await postJson(`${c.url}/get_response`, { request_id: id });
    assert.equal(final.body.response.is_finished, true);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.startsWith(seen[i - 1]!), 'the text only grows');
    assert.ok(seen.length >= 3, `polling during generation should see the text grow (saw ${seen.length} versions)`);
    assert.equal(deltas, final.body.response.response);
    assert.equal(last.is_finished, true);
  });

  test('duplicate and unknown request ids', async () => {
    const id = `dup-${Date.now()}`;
    assert.equal((await postJson(`${c.url}/chat`, { request_id: id, query: 'x', history: [], max_length: 20 })).status, 200);
    const dup = await postJson(`${c.url}/chat`, { request_id: id, query: 'x', history: [], max_length: 20 });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 101);
    const unknown = await postJson(`${c.url}/get_response`, { request_id: 'never-sent' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 102);
  });
});

describe('cancellation', () => {
  test('a client that closes its SSE stream cancels its request on the pipeline', async () => {
    const controller = new AbortController();
    const res = await fetch(`${c.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // Greedy: the random model's greedy reply repeats one phrase and never ends by itself, so the
      // client always leaves mid-reply (a sampled one could end with <eop> before the cancel lands);
      // as long as the model allows, since the tiny model once made 1500 tokens before the cancel landed.
      body: JSON.stringify({ messages: [{ role: 'user', content: '你好' }], stream: true, max_tokens: 2000, temperature: 0 }),
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let first = '';
    while (!first.includes('"content"')) first += new TextDecoder().decode((await reader.read()).value);
    const id = /"id":"([^"]+)"/.exec(first)?.[1];
    assert.ok(id);
    controller.abort();
    const state = await waitUntil('the request to finish', async () => {
      const s = await c.store.read(id!);
      return s?.status === 'finished' ? s : undefined;
    });
    assert.equal(state.finishReason, 'cancelled');
    assert.ok(state.tokenIds.length < 2000, `cancelled after ${state.tokenIds.length} tokens`);
    // The pipeline keeps serving.
    const after = await completion({ max_tokens: 3 });
    assert.equal(after.usage.completion_tokens, 3);
  });
});


test("a stage serves only this cluster's stages: a client without the launcher's stage secret is refused, probes are not", async () => {
  const port = c.cluster.stage(0, 1)!.ready!.port as number;
  const stranger = new StageClient(`127.0.0.1:${port}`);
  try {
    await assert.rejects(stranger.info(), (e: unknown) => e instanceof ChatGlmError && e.code === 'unauthorized');
    assert.equal(await stranger.check(), 'SERVING');
  } finally {
    stranger.close();
  }
});
