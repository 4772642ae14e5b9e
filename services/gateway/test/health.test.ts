// /healthz and /readyz: ready only while Redis answers and a pipeline sends heartbeats.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestRedis, type TestRedis } from '../../../test/support/redis-server.ts';
import { Harness, waitFor } from './support/harness.ts';

let redis: TestRedis;

before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  await redis.stop();
});

test('/readyz is 503 without a pipeline heartbeat and 200 with one; /healthz is 200 throughout', async () => {
  const h = await Harness.start(redis.url, { head: { heartbeat: false } });
  try {
    assert.equal((await h.get('/healthz')).status, 200);
    const down = await h.get('/readyz');
    assert.equal(down.status, 503);
    assert.equal(down.body.error.code, 'no_pipeline');
    assert.match(down.body.reason, /pipeline/);

    // Requests are refused while no pipeline would run them.
    const refused = await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'no_pipeline');

    await h.fakeHead.startHeartbeat();
    const up = await h.get('/readyz');
    assert.equal(up.status, 200);
    assert.deepEqual(up.body.pipelines, ['fake-pipeline']);
    assert.equal((await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] })).status, 200);

    await h.fakeHead.stopHeartbeat();
    assert.equal((await h.get('/readyz')).status, 503);
  } finally {
    await h.close();
  }
});

test('/readyz is 503 redis_unavailable when Redis does not answer, while /healthz stays 200', async () => {
  const h = await Harness.start(redis.url);
  try {
    await waitFor(async () => (await h.get('/readyz')).status === 200, 3000, 'ready');
    h.redis.disconnect(); // the gateway's connection is gone (and reconnects are off after disconnect)
    const r = await h.get('/readyz');
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'redis_unavailable');
    assert.equal((await h.get('/healthz')).status, 200);
  } finally {
    await h.close();
  }
});

test('a draining gateway is not ready and refuses new requests with a retryable 503', async () => {
  const h = await Harness.start(redis.url);
  try {
    h.gateway.startDraining();
    const ready = await h.get('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.error.code, 'shutting_down');
    const refused = await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(refused.status, 503);
    assert.deepEqual([refused.body.error.code, refused.body.error.retryable], ['shutting_down', true]);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal((await h.get('/healthz')).status, 200, 'still alive');
  } finally {
    await h.close();
  }
});
