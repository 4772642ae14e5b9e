// The original stream API: POST /chat starts, POST /get_response polls (full text or cursor deltas).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SCRIPT, sleep } from './support/fake-head.ts';
import { Harness, useHarness, waitFor } from './support/harness.ts';

let n = 0;
const rid = () => `req-${process.pid}-${n++}`;

const env = useHarness((h) => {
  // Slow enough that a poller sees the text grow.
  h.fakeHead.script = () => ({ deltas: ['春眠', '不觉晓，', '处处', '闻啼鸟。', '😀'], delayMs: 60, finishReason: 'stop' });
});

const FINAL = '春眠不觉晓，处处闻啼鸟。😀';

test('POST /chat starts a request; /get_response shows growing full text, is_handled, then is_finished', async () => {
  const id = rid();
  const start = await env.h.post('/chat', { request_id: id, prompt: '写一句诗', history: [] });
  assert.equal(start.status, 200);
  assert.deepEqual(start.body, { code: 0, msg: 'start process' });

  const seen: string[] = [];
  let last;
  for (let i = 0; i < 300; i++) {
    const r = await env.h.post('/get_response', { request_id: id });
    assert.equal(r.status, 200);
    assert.equal(r.body.code, 0);
    assert.equal(r.body.msg, 'success');
    last = r.body.response;
    assert.match(last.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    if (seen.at(-1) !== last.response) seen.push(last.response);
    if (last.response) assert.equal(last.is_handled, true, 'text appears only once a head handles the request');
    if (last.is_finished) break;
    await sleep(10);
  }
  assert.equal(last.is_finished, true);
  assert.equal(last.is_handled, true);
  assert.equal(last.response, FINAL);
  assert.ok(seen.length >= 3, `the poller should see the text grow, saw ${JSON.stringify(seen)}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.startsWith(seen[i - 1]!), 'each poll extends the previous text');
});

test('with cursor, each reply carries only the new text and the next cursor; the deltas concatenate to the final text', async () => {
  const id = rid();
  assert.equal((await env.h.post('/chat', { request_id: id, prompt: 'x' })).status, 200);
  let cursor = 0;
  let text = '';
  let deltas = 0;
  for (let i = 0; i < 300; i++) {
    const r = await env.h.post('/get_response', { request_id: id, cursor });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const resp = r.body.response;
    assert.equal(typeof resp.cursor, 'number');
    assert.equal(resp.cursor, cursor + Array.from(resp.response as string).length, 'cursor advances by the delta\'s code points');
    if (resp.response) deltas++;
    text += resp.response;
    cursor = resp.cursor;
    if (resp.is_finished) break;
    await sleep(10);
  }
  assert.equal(text, FINAL);
  assert.equal(cursor, Array.from(FINAL).length, 'the cursor counts code points (the emoji is one)');
  assert.ok(deltas >= 2, 'the text arrived in several deltas');
  const again = await env.h.post('/get_response', { request_id: id, cursor });
  assert.equal(again.body.response.response, '', 'nothing after the end');
  const past = await env.h.post('/get_response', { request_id: id, cursor: cursor + 1 });
  assert.equal(past.status, 400);
  assert.equal(past.body.code, 103);
});

test('a duplicate request_id gets 409 / code 101; an unknown one 404 / code 102', async () => {
  const id = rid();
  assert.equal((await env.h.post('/chat', { request_id: id, prompt: 'a' })).status, 200);
  const dup = await env.h.post('/chat', { request_id: id, prompt: 'b' });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.code, 101);
  assert.match(dup.body.msg, new RegExp(id));
  assert.equal(dup.body.error.code, 'duplicate_request_id');
  const unknown = await env.h.post('/get_response', { request_id: 'never-started' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.code, 102);
  assert.equal(unknown.body.error.code, 'request_not_found');
});

test('request ids BullMQ would refuse as job ids (integers, colons) work', async () => {
  for (const id of [`${Date.now()}${n++}`, `a:b:${n++}`, `x:${n++}`]) {
    const start = await env.h.post('/chat', { request_id: id, prompt: 'x' });
    assert.equal(start.status, 200, `${id}: ${JSON.stringify(start.body)}`);
    await waitFor(async () => (await env.h.post('/get_response', { request_id: id })).body.response.is_finished, 5000, `${id} to finish`);
  }
});

test('a full queue answers 429 / code 100 and accepts again once it drains', async () => {
  const busy = await Harness.start(env.redisUrl, { options: { maxQueued: 1 }, head: { paused: true } });
  try {
    const first = await busy.post('/chat', { request_id: rid(), prompt: 'one' });
    assert.equal(first.status, 200);
    const second = await busy.post('/chat', { request_id: rid(), prompt: 'two' });
    assert.equal(second.status, 429);
    assert.equal(second.body.code, 100);
    assert.equal(second.body.error.code, 'queue_full');
    assert.ok(second.headers.get('retry-after'));
    busy.fakeHead.resume();
    const id = rid();
    await waitFor(async () => (await busy.post('/chat', { request_id: id, prompt: 'three' })).status === 200, 5000, 'the queue to drain');
  } finally {
    await busy.close();
  }
});
