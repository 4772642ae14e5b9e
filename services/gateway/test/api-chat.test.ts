// POST / (the original api.py) against a real Redis and a fake head.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SCRIPT } from './support/fake-head.ts';
import { testModel, useHarness } from './support/harness.ts';

const env = useHarness();

const REPLY = DEFAULT_SCRIPT.deltas.join('');

test('POST / answers like api.py: response, history with the new turn, status 200, local time', async () => {
  const history = [['你好', '你好👋！']];
  const before = new Date();
  const r = await env.h.post('/', { prompt: '晚上睡不着应该怎么办', history, max_length: 1000, top_p: 0.5, temperature: 0.3 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.response, REPLY);
  assert.deepEqual(r.body.history, [...history, ['晚上睡不着应该怎么办', REPLY]]);
  assert.equal(r.body.status, 200);
  assert.match(r.body.time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  // Local time, as datetime.now() gives it, within the request's duration.
  const t = new Date(r.body.time.replace(' ', 'T')).getTime();
  assert.ok(t >= Math.floor(before.getTime() / 1000) * 1000 && t <= Date.now(), `time ${r.body.time} is not local now`);

  const job = env.h.fakeHead.jobs.at(-1)!;
  assert.equal(job.params.maxLength, 1000);
  assert.equal(job.params.topP, 0.5);
  assert.equal(job.params.temperature, 0.3);
  assert.match(job.requestId, /^chatcmpl-[A-Za-z0-9_-]{24}$/);
  // The prompt went out rendered with the chat template (docs/model.md §8.1) and tokenized.
  const { tokenizer } = await testModel();
  assert.deepEqual(job.promptIds, tokenizer.encode('[Round 0]\n问：你好\n答：你好👋！\n[Round 1]\n问：晚上睡不着应该怎么办\n答：'));
});

test('POST / uses api.py defaults (2048 / 0.7 / 0.95) when fields are absent or null, and a fresh seed per request', async () => {
  const a = await env.h.post('/', { prompt: 'hello', history: null, max_length: null });
  const b = await env.h.post('/', { prompt: 'hello' });
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.deepEqual(a.body.history, [['hello', REPLY]]);
  const [ja, jb] = env.h.fakeHead.jobs.slice(-2);
  for (const j of [ja!, jb!]) {
    assert.equal(j.params.maxLength, 2048);
    assert.equal(j.params.topP, 0.7);
    assert.equal(j.params.temperature, 0.95);
    assert.deepEqual(j.promptIds, ja!.promptIds, 'no history: the raw query is the prompt');
  }
  assert.notEqual(ja!.params.seed, jb!.params.seed, 'each request draws its own seed');
  assert.notEqual(ja!.requestId, jb!.requestId);
});

test('POST / follows api.py: a falsy max_length, top_p or temperature (0, null, false, "", [], {}) means the default', async () => {
  const absent = await env.h.post('/', { prompt: 'hello', seed: 11 });
  assert.equal(absent.status, 200, JSON.stringify(absent.body));
  const reference = env.h.fakeHead.jobs.at(-1)!.params;
  assert.deepEqual({ maxLength: reference.maxLength, topP: reference.topP, temperature: reference.temperature }, { maxLength: 2048, topP: 0.7, temperature: 0.95 });
  assert.equal(reference.seed, 11n, 'the seed extension reaches the job');
  for (const falsy of [0, null, false, '', [], {}]) {
    const r = await env.h.post('/', { prompt: 'hello', seed: 11, max_length: falsy, top_p: falsy, temperature: falsy });
    assert.equal(r.status, 200, `${JSON.stringify(falsy)}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(env.h.fakeHead.jobs.at(-1)!.params, reference, `${JSON.stringify(falsy)} means the default`);
  }
  // A truthy value is used, and must be valid.
  assert.equal((await env.h.post('/', { prompt: 'hello', temperature: 0.5 })).status, 200);
  assert.equal(env.h.fakeHead.jobs.at(-1)!.params.temperature, 0.5);
  const bad = await env.h.post('/', { prompt: 'hello', top_p: '0' });
  assert.equal(bad.status, 400, 'the string "0" is truthy in Python: it is a value, and not a number');
});

test('POST / takes JSON only (api.py read any type, which let any web page post from a visitor\'s browser): a form or text body gets 415 naming the header', async () => {
  for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
    const r = await env.h.post('/', JSON.stringify({ prompt: 'hi' }), { headers: { 'content-type': type } });
    assert.equal(r.status, 415, type);
    assert.equal(r.body.error.code, 'unsupported_media_type');
    assert.match(r.body.error.message, /Content-Type: application\/json \(got [a-z/-]+\)$/);
  }
  const json = await env.h.post('/', JSON.stringify({ prompt: 'hi' }), { headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.equal(json.status, 200);
  assert.equal(json.body.response, REPLY);
});

test('a pipeline error reaches the blocking caller with its code, its registry status and whether to retry', async () => {
  try {
    env.h.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, deltas: ['partial'], error: { code: 'stage_unavailable', message: 'stage 1 went away' } });
    const broken = await env.h.post('/', { prompt: 'hi' });
    assert.equal(broken.status, 503);
    assert.deepEqual({ code: broken.body.error.code, retryable: broken.body.error.retryable }, { code: 'stage_unavailable', retryable: true });
    assert.match(broken.body.error.message, /stage 1 went away/);
    assert.equal(broken.headers.get('retry-after'), '1');
    // A refusal by the pipeline that is the client's doing is a 4xx, not a server error.
    env.h.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, deltas: [], error: { code: 'context_length_exceeded', message: 'the prompt needs 300 cached positions but the pipeline holds 256' } });
    const refused = await env.h.post('/', { prompt: 'hi' });
    assert.equal(refused.status, 400);
    assert.deepEqual({ code: refused.body.error.code, retryable: refused.body.error.retryable }, { code: 'context_length_exceeded', retryable: false });
  } finally {
    env.h.fakeHead.script = () => DEFAULT_SCRIPT;
  }
});
