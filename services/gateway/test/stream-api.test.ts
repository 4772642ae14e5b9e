// The original stream API: POST /chat starts, POST /get_response polls (full text or cursor deltas).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callerRequestKey } from '../src/request-ids.ts';
import { DEFAULT_SCRIPT, sleep } from './support/fake-head.ts';
import { Harness, testModel, useHarness, waitFor } from './support/harness.ts';

let n = 0;
const rid = () => `req-${process.pid}-${n++}`;

const env = useHarness((h) => {
  // Slow enough that a poller sees the text grow.
  h.fakeHead.script = () => ({ deltas: ['春眠', '不觉晓，', '处处', '闻啼鸟。', '😀'], delayMs: 60, finishReason: 'stop' });
});

const FINAL = '春眠不觉晓，处处闻啼鸟。😀';

test('POST /chat starts a request; /get_response shows growing full text, is_handled, then is_finished', async () => {
  const id = rid();
  const start = await env.h.post('/chat', { request_id: id, query: '写一句诗', history: [] });
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
    assert.equal(typeof last.timestamp, 'number');
    assert.ok(Math.abs(last.timestamp - Date.now() / 1000) < 5, `timestamp ${last.timestamp} is epoch seconds`);
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

test('the documented bodies verbatim: query with a prior round of history, caller id "73"; timestamp is float epoch seconds', async () => {
  const before = Date.now() / 1000;
  const start = await env.h.post('/chat', JSON.parse('{"history": [["你是谁？","我是智能机器人"]], "query": "你好", "request_id": "73"}'));
  assert.deepEqual({ status: start.status, body: start.body }, { status: 200, body: { code: 0, msg: 'start process' } });
  await waitFor(() => env.h.fakeHead.jobs.some((j) => j.requestId === 'caller-73'), 3000, 'the head to take 73');
  const job = env.h.fakeHead.jobs.find((j) => j.requestId === 'caller-73')!;
  const { tokenizer } = await testModel();
  assert.deepEqual(job.promptIds, tokenizer.encode('[Round 0]\n问：你是谁？\n答：我是智能机器人\n[Round 1]\n问：你好\n答：'));
  await waitFor(async () => (await env.h.post('/get_response', { request_id: '73' })).body.response.is_finished, 5000, '73 to finish');
  const raw = await fetch(`${env.h.base}/get_response`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"request_id": "73"}' });
  const text = await raw.text();
  assert.match(text, /"timestamp":\d{10}\.\d+[,}]/, 'the timestamp is written as a float');
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'msg', 'response']);
  assert.deepEqual({ code: body.code, msg: body.msg }, { code: 0, msg: 'success' });
  const r = body.response;
  assert.deepEqual(Object.keys(r).sort(), ['finish_reason', 'is_finished', 'is_handled', 'response', 'timestamp']);
  assert.deepEqual({ is_finished: r.is_finished, is_handled: r.is_handled, response: r.response, finish_reason: r.finish_reason }, { is_finished: true, is_handled: true, response: FINAL, finish_reason: 'stop' });
  assert.ok(r.timestamp >= before && r.timestamp <= Date.now() / 1000, `timestamp ${r.timestamp} is the last change, in epoch seconds`);
});

test('prompt is accepted as another name of query, also together with an equal query', async () => {
  const ids = [rid(), rid()];
  for (const [i, body] of [{ prompt: 'x' }, { prompt: 'x', query: 'x' }].entries()) {
    const r = await env.h.post('/chat', { request_id: ids[i], ...body });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const jobOf = (id: string) => env.h.fakeHead.jobs.find((j) => j.requestId === `caller-${id}`);
  await waitFor(() => ids.every((id) => jobOf(id)), 3000, 'the head to take both');
  assert.deepEqual(jobOf(ids[0]!)!.promptIds, jobOf(ids[1]!)!.promptIds);
});

test('with cursor, each reply carries only the new text and the next cursor; the deltas concatenate to the final text', async () => {
  const id = rid();
  assert.equal((await env.h.post('/chat', { request_id: id, query: 'x' })).status, 200);
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
  assert.equal((await env.h.post('/chat', { request_id: id, query: 'a' })).status, 200);
  const dup = await env.h.post('/chat', { request_id: id, query: 'b' });
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
    const start = await env.h.post('/chat', { request_id: id, query: 'x' });
    assert.equal(start.status, 200, `${id}: ${JSON.stringify(start.body)}`);
    await waitFor(async () => (await env.h.post('/get_response', { request_id: id })).body.response.is_finished, 5000, `${id} to finish`);
  }
});

test('a full queue answers 429 / code 100 and accepts again once it drains', async () => {
  const busy = await Harness.start(env.redisUrl, { options: { maxQueued: 1 }, head: { paused: true } });
  try {
    const first = await busy.post('/chat', { request_id: rid(), query: 'one' });
    assert.equal(first.status, 200);
    const second = await busy.post('/chat', { request_id: rid(), query: 'two' });
    assert.equal(second.status, 429);
    assert.equal(second.body.code, 100);
    assert.equal(second.body.error.code, 'queue_full');
    assert.ok(second.headers.get('retry-after'));
    // Admission comes before tokenizing: a long prompt is refused as cheaply as a short one.
    const long = await busy.post('/chat', { request_id: rid(), query: '你好 hello world, '.repeat(2000) });
    assert.equal(long.body.error.code, 'queue_full');
    busy.fakeHead.resume();
    const id = rid();
    await waitFor(async () => (await busy.post('/chat', { request_id: id, query: 'three' })).status === 200, 5000, 'the queue to drain');
  } finally {
    await busy.close();
  }
});

test('a request_id reused once its record has expired runs again (BullMQ still holds the finished job of that id)', async () => {
  const id = `reuse-${Date.now()}`;
  const finished = async () => (await env.h.post('/get_response', { request_id: id })).body.response?.is_finished === true;
  const jobs = env.h.fakeHead.jobs.length;
  assert.equal((await env.h.post('/chat', { query: 'first', request_id: id })).status, 200);
  await waitFor(finished, 5000, 'the first run');
  // The record expires (its TTL), the finished job is still in BullMQ.
  await env.h.gateway.context.store.remove(callerRequestKey(id));
  assert.equal((await env.h.post('/chat', { query: 'second', request_id: id })).status, 200);
  await waitFor(finished, 5000, 'the second run');
  assert.equal(env.h.fakeHead.jobs.length, jobs + 2, 'both requests ran');
});

test('POST /chat/cancel stops a running request (finish_reason cancelled); an ended one answers its status; unknown 404, bad id 400', async () => {
  const poem = env.h.fakeHead.script;
  env.h.fakeHead.script = () => ({ deltas: Array.from({ length: 100 }, (_, i) => `tok${i} `), delayMs: 20, finishReason: 'stop' });
  try {
    const id = rid();
    assert.equal((await env.h.post('/chat', { request_id: id, query: 'x' })).status, 200);
    const poll = async () => (await env.h.post('/get_response', { request_id: id })).body.response;
    await waitFor(async () => (await poll()).response.includes('tok1 '), 5000, 'the request to be running');
    const cancel = await env.h.post('/chat/cancel', { id });
    assert.deepEqual({ status: cancel.status, body: cancel.body }, { status: 200, body: { id, status: 'cancelling' } });
    await waitFor(async () => (await poll()).is_finished, 5000, 'the request to end');
    const ended = await poll();
    assert.equal(ended.finish_reason, 'cancelled');
    assert.ok(!ended.response.includes('tok99 '), 'the reply stopped early');
    assert.ok(env.h.fakeHead.cancelled.includes(callerRequestKey(id)), 'the head saw the cancellation');
    const again = await env.h.post('/chat/cancel', { id });
    assert.deepEqual({ status: again.status, body: again.body }, { status: 200, body: { id, status: 'finished' } });
  } finally {
    env.h.fakeHead.script = poem;
  }
  const unknown = await env.h.post('/chat/cancel', { id: 'never-started' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'request_not_found');
  for (const body of [{}, { id: 'a b' }, { id: 7 }, { request_id: 'x' }]) {
    const bad = await env.h.post('/chat/cancel', body);
    assert.equal(bad.status, 400, JSON.stringify(body));
    assert.equal(bad.body.error.code, 'invalid_request');
    assert.match(bad.body.error.message, /^id /);
  }
});
