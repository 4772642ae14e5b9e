// Admission under concurrency: the queue's cap holds for a burst (the check and the reservation are
// one Redis script), and each API key's unfinished requests are capped across replicas.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { queuedJobs } from '@chatglm/queue';
import { ApiKeys } from '../src/auth/api-keys.ts';
import { callerRequestKey } from '../src/request-ids.ts';
import { Harness, waitFor } from './support/harness.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis-server.ts';

const ALICE = 'alice-0123456789abcdef-secret';
const BOB = 'bob-fedcba9876543210-secret';
const KEYS = ApiKeys.parse(`${ALICE}\n${BOB}`, 'test keys');
const as = (key: string) => ({ headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } });

let redis: TestRedis;
before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  await redis?.stop();
});

let n = 0;
const rid = () => `adm-${process.pid}-${n++}`;

test('a burst of 40 concurrent requests against --max-queued 5 admits exactly 5', async () => {
  // The head heartbeats (so no_pipeline does not refuse) but takes no job: everything admitted waits.
  const h = await Harness.start(redis.url, { options: { maxQueued: 5 }, head: { paused: true } });
  try {
    const replies = await Promise.all(Array.from({ length: 40 }, () => h.post('/chat', { request_id: rid(), query: 'hi' })));
    const statuses = replies.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 5, `statuses: ${statuses.join(' ')}`);
    for (const r of replies.filter((r) => r.status !== 200)) {
      assert.equal(r.status, 429);
      assert.equal(r.body.error.code, 'queue_full');
      assert.equal(r.headers.get('retry-after'), '1');
    }
    assert.equal(await queuedJobs(h.gateway.context.queue), 5);
    // Every place reserved is released once its job is enqueued or its request refused.
    const admitted = h.gateway.context.store.keys.admitted();
    await waitFor(async () => (await h.redis.zcard(admitted)) === 0, 3000, 'the reservations to be released');
    assert.equal((await h.post('/chat', { request_id: rid(), query: 'hi' })).status, 429, 'the 5 enqueued jobs still fill the queue');
  } finally {
    await h.close();
  }
});

test('a reservation left by a gateway that died before enqueuing holds its place only until it is stale', async () => {
  const h = await Harness.start(redis.url, { options: { maxQueued: 1 }, head: { paused: true } });
  try {
    const admitted = h.gateway.context.store.keys.admitted();
    // Redis time (ms) as the script reads it: a fresh entry, then one 31 s old.
    const [seconds, micros] = await h.redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await h.redis.zadd(admitted, now, 'dead-gateway-fresh');
    assert.equal((await h.post('/chat', { request_id: rid(), query: 'hi' })).body.error?.code, 'queue_full');
    await h.redis.zadd(admitted, now - 31_000, 'dead-gateway-fresh');
    assert.equal((await h.post('/chat', { request_id: rid(), query: 'hi' })).status, 200);
  } finally {
    await h.close();
  }
});

test('--max-concurrent-per-key 2: a third concurrent request of the key is refused, another key is not; a finished one frees its place', async () => {
  const h = await Harness.start(redis.url, { options: { apiKeys: KEYS, maxConcurrentPerKey: 2 }, head: { paused: true } });
  try {
    const alice = KEYS.identify(ALICE)!;
    // A request refused after admission (too long for the model) holds no place.
    const long = await h.post('/chat', { request_id: rid(), query: '你好 hello world, '.repeat(2000) }, as(ALICE));
    assert.equal(long.body.error?.code, 'context_length_exceeded');

    const ids = [rid(), rid(), rid()];
    const replies = await Promise.all(ids.map((id) => h.post('/chat', { request_id: id, query: 'hi' }, as(ALICE))));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 200, 429]);
    const refused = replies.find((r) => r.status === 429)!;
    assert.equal(refused.body.error.code, 'concurrency_limited');
    assert.equal(refused.body.code, 100, 'the stream API calls it busy');
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal((await h.post('/chat', { request_id: rid(), query: 'hi' }, as(BOB))).status, 200, 'another key has its own count');
    assert.equal((await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }, as(ALICE))).status, 429, 'every endpoint counts');

    // A head finishes one of Alice's requests: she may send one more, and no more than that.
    const running = ids.filter((_, i) => replies[i]!.status === 200);
    await h.gateway.context.store.finish({ id: callerRequestKey(running[0]!, alice), delta: '', newTokens: [], completionTokens: 0, withLogprobs: false, finishReason: 'stop', promptTokens: 1 });
    assert.equal((await h.post('/chat', { request_id: rid(), query: 'hi' }, as(ALICE))).status, 200);
    assert.equal((await h.post('/chat', { request_id: rid(), query: 'hi' }, as(ALICE))).body.error?.code, 'concurrency_limited');
    // A failed one frees its place too.
    await h.gateway.context.store.fail(callerRequestKey(running[1]!, alice), 'job_failed', 'test');
    assert.equal((await h.post('/chat', { request_id: rid(), query: 'hi' }, as(ALICE))).status, 200);
  } finally {
    await h.close();
  }
});
