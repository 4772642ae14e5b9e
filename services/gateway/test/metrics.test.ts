// GET /metrics: what the gateway reports about the requests it served, scraped as Prometheus would.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLogger } from '@chatglm/common';
import { connectRedis } from '@chatglm/queue';
import { createGatewayApp } from '../src/index.ts';
import { Scrape } from '../../../test/support/prometheus-text.ts';
import { DEFAULT_SCRIPT } from './support/fake-head.ts';
import { Harness, testModel, useHarness, waitFor } from './support/harness.ts';

const env = useHarness();
const scrape = () => Scrape.fetch(`${env.h.base}/metrics`);
const TOKENS = DEFAULT_SCRIPT.deltas.length;

test('a streamed completion: admitted, its first token and inter-token gaps timed, its tokens and finish reason counted', async () => {
  const before = await scrape();
  const res = await fetch(`${env.h.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: '你好' }], stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /\[DONE\]/);
  const promptTokens = env.h.fakeHead.jobs.at(-1)!.promptIds.length;
  // The HTTP counter is bumped when the response closes, which may be just after the client read it.
  await waitFor(async () => (await scrape()).sum('chatglm_gateway_http_requests_total', { route: '/v1/chat/completions' }) > before.sum('chatglm_gateway_http_requests_total', { route: '/v1/chat/completions' }));
  const after = await scrape();
  const grew = (name: string, labels: Record<string, string>) => after.sum(name, labels) - before.sum(name, labels);
  const openai = { endpoint: 'openai' };

  assert.equal(grew('chatglm_gateway_http_requests_total', { route: '/v1/chat/completions', method: 'POST', code: '200', service: 'gateway' }), 1);
  assert.equal(grew('chatglm_gateway_http_request_duration_seconds_count', { route: '/v1/chat/completions', code: '200' }), 1);
  assert.equal(grew('chatglm_gateway_requests_admitted_total', openai), 1);
  assert.equal(grew('chatglm_gateway_prompt_tokens_total', openai), promptTokens);
  assert.equal(grew('chatglm_gateway_completion_tokens_total', openai), TOKENS);
  assert.equal(grew('chatglm_gateway_finished_requests_total', { ...openai, finish_reason: 'stop' }), 1);
  assert.equal(grew('chatglm_gateway_time_to_first_token_seconds_count', openai), 1);
  // One gap per token after the first, each at least the fake head's pause between deltas.
  assert.equal(grew('chatglm_gateway_inter_token_latency_seconds_count', openai), TOKENS - 1);
  assert.ok(grew('chatglm_gateway_inter_token_latency_seconds_sum', openai) >= ((TOKENS - 1) * DEFAULT_SCRIPT.delayMs * 0.8) / 1000);
  assert.ok(grew('chatglm_gateway_request_duration_seconds_sum', { ...openai, finish_reason: 'stop' }) >= (TOKENS * DEFAULT_SCRIPT.delayMs) / 1000);
  assert.equal(after.types.get('chatglm_gateway_time_to_first_token_seconds'), 'histogram');
});

test('POST / and the poller are labelled by endpoint; the poller is admitted but not timed (its client decides when it reads)', async () => {
  const before = await scrape();
  const r = await env.h.post('/', { prompt: '你好', history: [] });
  assert.equal(r.status, 200);
  const id = `metrics-${Date.now()}`;
  assert.equal((await env.h.post('/chat', { query: '你好', request_id: id })).status, 200);
  await waitFor(async () => (await env.h.post('/get_response', { request_id: id })).body.response.is_finished === true);
  const after = await scrape();
  const grew = (name: string, labels: Record<string, string>) => after.sum(name, labels) - before.sum(name, labels);
  assert.equal(grew('chatglm_gateway_requests_admitted_total', { endpoint: 'api' }), 1);
  assert.equal(grew('chatglm_gateway_time_to_first_token_seconds_count', { endpoint: 'api' }), 1);
  assert.equal(grew('chatglm_gateway_finished_requests_total', { endpoint: 'api', finish_reason: 'stop' }), 1);
  assert.equal(grew('chatglm_gateway_requests_admitted_total', { endpoint: 'stream_api' }), 1);
  assert.equal(grew('chatglm_gateway_time_to_first_token_seconds_count', { endpoint: 'stream_api' }), 0);
  assert.ok(grew('chatglm_gateway_http_requests_total', { route: '/get_response', code: '200' }) >= 2);
});

test('errors are counted by code; an unknown path is one bounded route label, not its raw path', async () => {
  const before = await scrape();
  assert.equal((await env.h.get('/no/such/path/12345')).status, 404);
  assert.equal((await env.h.post('/v1/chat/completions', { messages: [] })).status, 400);
  const after = await scrape();
  const grew = (name: string, labels: Record<string, string>) => after.sum(name, labels) - before.sum(name, labels);
  assert.equal(grew('chatglm_gateway_http_requests_total', { route: 'unmatched', code: '404' }), 1);
  assert.equal(after.find('chatglm_gateway_http_requests_total').filter((s) => s.labels.route?.includes('12345')).length, 0);
  assert.equal(grew('chatglm_gateway_errors_total', { code: 'not_found' }), 1);
  assert.equal(grew('chatglm_gateway_errors_total', { code: 'invalid_request' }), 1);
  assert.equal(grew('chatglm_gateway_http_requests_total', { route: '/v1/chat/completions', code: '400' }), 1);
});

test('queue depth, the oldest job\'s wait and ready pipelines are read from Redis at scrape time', async () => {
  const h = await Harness.start(env.redisUrl, { head: { paused: true } });
  try {
    const empty = await Scrape.fetch(`${h.base}/metrics`);
    assert.equal(empty.value('chatglm_gateway_queue_depth'), 0);
    assert.equal(empty.value('chatglm_gateway_queue_oldest_wait_seconds'), 0);
    assert.equal(empty.value('chatglm_gateway_ready_pipelines'), 1);
    for (const n of [1, 2]) assert.equal((await h.post('/chat', { query: '你好', request_id: `queued-${n}` })).status, 200);
    await new Promise((r) => setTimeout(r, 50));
    const queued = await Scrape.fetch(`${h.base}/metrics`);
    assert.equal(queued.value('chatglm_gateway_queue_depth'), 2);
    assert.ok(queued.value('chatglm_gateway_queue_oldest_wait_seconds') >= 0.05);
    // Node's own metrics come along, labelled with the service like everything else.
    assert.ok(queued.value('process_start_time_seconds', { service: 'gateway' }) > 0);
  } finally {
    await h.close();
  }
});

test('admission refusals are counted by reason', async () => {
  const h = await Harness.start(env.redisUrl, { head: false });
  try {
    assert.equal((await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] })).status, 503);
    const s = await Scrape.fetch(`${h.base}/metrics`);
    assert.equal(s.value('chatglm_gateway_requests_refused_total', { endpoint: 'openai', reason: 'no_pipeline' }), 1);
    assert.equal(s.value('chatglm_gateway_errors_total', { code: 'no_pipeline' }), 1);
    assert.equal(s.value('chatglm_gateway_ready_pipelines'), 0);
  } finally {
    await h.close();
  }
});

test('a Redis that does not answer leaves the scrape working: the queue unknown, no pipeline ready', async () => {
  const { tokenizer, config } = await testModel();
  // Nothing listens on port 1: every command waits for a connection that never comes.
  const redis = connectRedis('redis://127.0.0.1:1', { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const gateway = createGatewayApp({ redis, tokenizer, config, logger: createLogger('gateway', {}, () => undefined) });
  const server = gateway.app.listen(0, '127.0.0.1');
  try {
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const started = Date.now();
    const s = await Scrape.fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    assert.ok(Date.now() - started < 5000, 'the scrape answered without waiting for Redis');
    assert.ok(Number.isNaN(s.value('chatglm_gateway_queue_depth')));
    assert.equal(s.value('chatglm_gateway_ready_pipelines'), 0);
  } finally {
    server.closeAllConnections();
    server.close();
    await gateway.close();
    redis.disconnect();
  }
});
