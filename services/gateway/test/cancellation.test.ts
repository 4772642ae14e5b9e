// A client that goes away cancels its request: the head (here the fake one) observes the cancellation.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Harness, useHarness, waitFor } from './support/harness.ts';

const env = useHarness((h) => {
  // A long reply, so the client leaves in the middle of it.
  h.fakeHead.script = () => ({ deltas: Array.from({ length: 100 }, (_, i) => `tok${i} `), delayMs: 20, finishReason: 'stop' });
});

/** POSTs `body` and destroys the connection once `leaveWhen` says so (or after the headers). */
function postAndLeave(path: string, body: unknown, leaveWhen: (received: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(env.h.base + path);
    const req = http.request({ host: url.hostname, port: url.port, path, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let received = '';
      res.on('data', (d: Buffer) => {
        received += d.toString();
        if (leaveWhen(received)) {
          req.destroy();
          resolve(received);
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(JSON.stringify(body));
  });
}

/** POSTs `body` and destroys the connection after `ms` without reading anything. */
function postAndHangUp(path: string, body: unknown, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(env.h.base + path);
    const req = http.request({ host: url.hostname, port: url.port, path, method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => undefined);
    req.end(JSON.stringify(body));
    setTimeout(() => {
      req.destroy();
      resolve();
    }, ms);
  });
}

async function lastJobId(count: number): Promise<string> {
  await waitFor(() => env.h.fakeHead.jobs.length >= count, 3000, 'the head to take the job');
  return env.h.fakeHead.jobs.at(-1)!.requestId;
}

test('closing an SSE stream cancels the request', async () => {
  const jobs = env.h.fakeHead.jobs.length;
  const received = await postAndLeave('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], stream: true }, (r) => r.includes('tok2 '));
  assert.match(received, /"role":"assistant"/);
  const id = await lastJobId(jobs + 1);
  await waitFor(() => env.h.fakeHead.cancelled.includes(id), 3000, `the head to observe the cancellation of ${id}`);
  const state = await env.h.gateway.context.store.read(id);
  assert.equal(state?.finishReason, 'cancelled');
  assert.ok((state?.text.length ?? 0) < 100 * 5, 'the reply stopped early');
});

test('a blocking POST / whose client hangs up is cancelled', async () => {
  const jobs = env.h.fakeHead.jobs.length;
  await postAndHangUp('/', { prompt: 'hi' }, 150);
  const id = await lastJobId(jobs + 1);
  await waitFor(() => env.h.fakeHead.cancelled.includes(id), 3000, `the head to observe the cancellation of ${id}`);
});

test('a non-stream completion whose client hangs up is cancelled', async () => {
  const jobs = env.h.fakeHead.jobs.length;
  await postAndHangUp('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }, 150);
  const id = await lastJobId(jobs + 1);
  await waitFor(() => env.h.fakeHead.cancelled.includes(id), 3000, `the head to observe the cancellation of ${id}`);
});

test('a client that stays is not cancelled, and the timeout cancels a request that takes too long', async () => {
  const quick = await Harness.start(env.redisUrl, { options: { requestTimeoutMs: 300, pollSliceMs: 50 } });
  try {
    quick.fakeHead.script = () => ({ deltas: ['a', 'b'], delayMs: 10, finishReason: 'stop' });
    const ok = await quick.post('/', { prompt: 'hi' });
    assert.equal(ok.status, 200);
    assert.deepEqual(quick.fakeHead.cancelled, []);

    quick.fakeHead.script = () => ({ deltas: Array.from({ length: 100 }, () => 'x'), delayMs: 20, finishReason: 'stop' });
    const slow = await quick.post('/', { prompt: 'hi' });
    assert.equal(slow.status, 504);
    assert.equal(slow.body.error.code, 'request_timeout');
    const id = quick.fakeHead.jobs.at(-1)!.requestId;
    await waitFor(() => quick.fakeHead.cancelled.includes(id), 3000, 'the timed-out request to be cancelled');
  } finally {
    await quick.close();
  }
});

test('every waiting request\'s Redis connection is closed when it ends, however it ends', async () => {
  const clients = async () => String(await env.h.redis.client('LIST')).split('\n').filter(Boolean).length;
  const baseline = await clients();
  // Slow enough that all six are still waiting when the connections are counted.
  env.h.fakeHead.script = () => ({ deltas: ['a', 'b', 'c'], delayMs: 150, finishReason: 'stop' });
  try {
    const jobs = env.h.fakeHead.jobs.length;
    const requests = Array.from({ length: 6 }, () => env.h.post('/', { prompt: 'hi' }));
    await waitFor(() => env.h.fakeHead.jobs.length >= jobs + 6, 5000, 'the head to take all six');
    const during = await clients();
    await postAndHangUp('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], stream: true }, 50);
    assert.ok((await Promise.all(requests)).every((r) => r.status === 200));
    assert.ok(during >= baseline + 6, `each waiting request holds a connection of its own (${during} clients while waiting, ${baseline} before)`);
    await waitFor(async () => (await clients()) === baseline, 3000, `the client count to return to ${baseline}`);
  } finally {
    env.h.fakeHead.script = () => ({ deltas: Array.from({ length: 100 }, (_, i) => `tok${i} `), delayMs: 20, finishReason: 'stop' });
  }
});
