// Resumable streams: a client that loses its SSE connection reconnects with Last-Event-ID, to another
// gateway replica, and gets the rest of the reply without gap or repetition; a stream nobody comes
// back for is cancelled after the grace period; a Last-Event-ID that names nothing of the caller's is
// refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiKeys } from '../src/auth/api-keys.ts';
import { sseEvents, type SseEvent } from '../../../test/support/sse-events.ts';
import { Scrape } from '../../../test/support/prometheus-text.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis-server.ts';
import { DEFAULT_SCRIPT } from './support/fake-head.ts';
import { Harness, waitFor } from './support/harness.ts';

const DELTAS = Array.from({ length: 40 }, (_, i) => `${i} `);
const BODY = { messages: [{ role: 'user', content: 'count' }], stream: true };

let redis: TestRedis;
let a: Harness;
let b: Harness;
before(async () => {
  redis = await startTestRedis();
  a = await Harness.start(redis.url, { options: { resumeGraceMs: 2000 } });
  a.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, deltas: DELTAS, delayMs: 40 });
  // Another replica of the same cluster (same Redis and prefix), without a head of its own.
  b = await Harness.start(redis.url, { options: { prefix: a.prefix }, head: false });
});
after(async () => {
  await b?.close();
  await a?.close();
  await redis?.stop();
});

/** Reads SSE events until `stop` says so or the stream ends; returns them. */
async function readEvents(res: Response, stop: (events: SseEvent[]) => boolean = () => false): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = sseEvents(res.body!);
  for await (const e of reader) {
    events.push(e);
    if (stop(events)) {
      await reader.return(undefined);
      await res.body!.cancel().catch(() => undefined);
      return events;
    }
  }
  return events;
}

const contentOf = (events: SseEvent[]) => events.filter((e) => e.data !== '[DONE]').map((e) => (JSON.parse(e.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '').join('');
const post = (base: string, headers: Record<string, string> = {}) => fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(BODY) });

test('a client that lost its stream resumes it on another replica with Last-Event-ID: no gap, no repetition, no cancellation', async () => {
  const controller = new AbortController();
  const first = await fetch(`${a.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY), signal: controller.signal });
  const before = await readEvents(first, (events) => events.length >= 6);
  controller.abort();
  const last = before.at(-1)!.id!;
  assert.match(last, /^chatcmpl-[^/]+\/\d+-\d+$/);
  const id = last.split('/')[0]!;

  const resumed = await post(b.base, { 'last-event-id': last });
  assert.equal(resumed.status, 200);
  const rest = await readEvents(resumed);
  assert.equal(rest.at(-1)?.data, '[DONE]');
  assert.ok(!rest.some((e) => e.data.includes('"role"')), 'no second role chunk');
  assert.equal(contentOf(before) + contentOf(rest), DELTAS.join(''), 'every piece of text exactly once');
  const positions = [...before, ...rest].filter((e) => e.id).map((e) => e.id!.split('/')[1]!);
  assert.deepEqual(positions, [...positions].sort((x, y) => (x === '0' ? -1 : y === '0' ? 1 : Number(x.split('-')[0]) - Number(y.split('-')[0]) || Number(x.split('-')[1]) - Number(y.split('-')[1]))), 'ids in stream order');
  await new Promise((r) => setTimeout(r, 2500)); // past the grace period of the first replica
  assert.ok(!a.fakeHead.cancelled.includes(id), 'the resumed request was not cancelled');
  assert.equal((await a.gateway.context.store.read(id))?.finishReason, 'stop');
  // The replica that resumed it timed no first token (the request began elsewhere), but its gaps.
  const metrics = await Scrape.fetch(`${b.base}/metrics`);
  assert.equal(metrics.value('chatglm_gateway_time_to_first_token_seconds_count', { endpoint: 'openai' }), 0);
  assert.ok(metrics.value('chatglm_gateway_inter_token_latency_seconds_count', { endpoint: 'openai' }) > 0);
  assert.equal(metrics.value('chatglm_gateway_finished_requests_total', { endpoint: 'openai', finish_reason: 'stop' }), 1);
});

test('a stream nobody resumes is cancelled after the grace period', async () => {
  // Long enough to be still running when the grace period ends.
  a.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, deltas: Array.from({ length: 200 }, (_, i) => `${i} `), delayMs: 40 });
  const controller = new AbortController();
  const res = await fetch(`${a.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY), signal: controller.signal });
  const events = await readEvents(res, (e) => e.length >= 3);
  controller.abort();
  const id = events.at(-1)!.id!.split('/')[0]!;
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!a.fakeHead.cancelled.includes(id), 'not before the grace period');
  await waitFor(() => a.fakeHead.cancelled.includes(id), 5000, 'the abandoned request to be cancelled');
  a.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, deltas: DELTAS, delayMs: 40 });
});

test('a Last-Event-ID that is not ours is 400; an unknown request, or another key\'s, is 404', async () => {
  const bad = await post(b.base, { 'last-event-id': 'hello' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /Last-Event-ID "hello" is not an event id/);
  assert.equal((await post(b.base, { 'last-event-id': 'chatcmpl-nosuchrequest/0' })).status, 404);

  const alice = 'alice-key-0123456789abcdef';
  const bob = 'bob-key-0123456789abcdef00';
  const keyed = await Harness.start(redis.url, { options: { apiKeys: ApiKeys.parse(`${alice}\n${bob}`, 'test'), resumeGraceMs: 100 } });
  try {
    const controller = new AbortController();
    const mine = await fetch(`${keyed.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` }, body: JSON.stringify(BODY), signal: controller.signal });
    const events = await readEvents(mine, (e) => e.length >= 2);
    controller.abort();
    const theirs = await post(keyed.base, { authorization: `Bearer ${bob}`, 'last-event-id': events.at(-1)!.id! });
    assert.equal(theirs.status, 404, "another key cannot follow Alice's stream");
  } finally {
    await keyed.close();
  }
});
