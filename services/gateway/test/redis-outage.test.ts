// A Redis that stops answering (paused with SIGSTOP: connections stay open, nothing replies, the
// worst case) makes every endpoint answer 503 redis_unavailable with Retry-After within seconds,
// ends an open SSE stream with an error event once the outage outlasts its grace, and the gateway
// serves again once Redis is back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { REDIS_COMMAND_TIMEOUT_MS } from '../src/index.ts';
import { REDIS_OUTAGE_GRACE_MS } from '../src/event-follower.ts';
import { startLocalRedisServer } from '../../../test/support/redis-server.ts';
import { DEFAULT_SCRIPT } from './support/fake-head.ts';
import { Harness } from './support/harness.ts';

let redis: Awaited<ReturnType<typeof startLocalRedisServer>>;
let h: Harness;
before(async () => {
  redis = await startLocalRedisServer();
  // Short slices: an open stream notices the outage within a slice plus the command deadline.
  h = await Harness.start(`redis://127.0.0.1:${redis.port}`, { options: { pollSliceMs: 500 } });
});
after(async () => {
  redis?.process.kill('SIGCONT');
  await h?.close();
  await redis?.stop();
});

/** What every endpoint answers while Redis sleeps must come within this. */
const BOUND_MS = REDIS_COMMAND_TIMEOUT_MS * 2 + 1000;

test('with Redis paused every endpoint answers 503 redis_unavailable + Retry-After within the bound; an open stream ends with an error event', async () => {
  assert.equal((await h.post('/', { prompt: 'hi' })).status, 200, 'served before the outage');
  h.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, deltas: Array.from({ length: 200 }, () => 'x'), delayMs: 50 });
  const stream = await fetch(`${h.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true }) });
  const reader = stream.body!.getReader();
  await reader.read();
  redis.process.kill('SIGSTOP');
  try {
    const requests: [string, unknown][] = [
      ['/', { prompt: 'hi' }],
      ['/chat', { query: 'hi', request_id: 'outage-1' }],
      ['/get_response', { request_id: 'outage-1' }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }],
    ];
    const answers = await Promise.all(requests.map(async ([path, body]) => {
      const started = Date.now();
      const r = await h.post(path, body);
      return { path, r, ms: Date.now() - started };
    }));
    for (const { path, r, ms } of answers) {
      assert.equal(r.status, 503, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'redis_unavailable', path);
      assert.equal(r.headers.get('retry-after'), '1', path);
      assert.ok(ms < BOUND_MS, `${path} answered after ${ms} ms`);
    }
    const readyz = await h.get('/readyz');
    assert.equal(readyz.status, 503);
    // The stream that was open gets an error event, then ends.
    let text = '';
    const decoder = new TextDecoder();
    // An open stream rides out a short outage (a restarting Redis), then ends.
    const deadline = Date.now() + BOUND_MS + REDIS_OUTAGE_GRACE_MS + 1000;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
      assert.ok(Date.now() < deadline, 'the stream ended in time');
    }
    assert.match(text, /"code":"redis_unavailable"/);
  } finally {
    redis.process.kill('SIGCONT');
  }
  // Redis is back: the gateway serves again.
  h.fakeHead.script = () => DEFAULT_SCRIPT;
  const again = await h.post('/', { prompt: 'hi' });
  assert.equal(again.status, 200, JSON.stringify(again.body));
});

test('a full Redis (maxmemory with noeviction, as the launcher starts it) refuses new requests with 503 redis_unavailable, and they are taken again once it has room', async () => {
  const admin = h.redis;
  try {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    const r = await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'redis_unavailable');
    assert.equal(r.headers.get('retry-after'), '1');
  } finally {
    await admin.config('SET', 'maxmemory', '0');
  }
  assert.equal((await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] })).status, 200);
});
