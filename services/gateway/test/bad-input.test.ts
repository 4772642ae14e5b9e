// Every malformed request gets its documented 4xx and error code, none reaches the queue, and the
// gateway still serves a good request afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SCRIPT } from './support/fake-head.ts';
import { BAD_INPUT_CASES as CASES, DUPLICATE_ID, assertBadInputReply, user } from './support/bad-input-cases.ts';
import { useHarness, TEST_MAX_LENGTH } from './support/harness.ts';

const env = useHarness();

test(`${CASES.length} kinds of bad input get their documented status and code, and reach no queue`, async () => {
  assert.ok(CASES.length >= 25);
  assert.equal((await env.h.post('/chat', { request_id: DUPLICATE_ID, query: 'first' })).status, 200);
  const jobsEver = async () => Object.values(await env.h.gateway.context.queue.getJobCounts()).reduce((a, b) => a + b, 0);
  const queuedBefore = await jobsEver();
  assert.equal(queuedBefore, 1);
  for (const c of CASES) {
    assertBadInputReply(c, c.method === 'GET' ? await env.h.get(c.path) : await env.h.post(c.path, c.body));
  }
  assert.equal(await jobsEver(), queuedBefore, 'no bad request was enqueued');

  // Still serving.
  const ok = await env.h.post('/v1/chat/completions', { messages: [user('hi')] });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.choices[0].message.content, DEFAULT_SCRIPT.deltas.join(''));
  assert.equal((await env.h.post('/', { prompt: 'hi' })).status, 200);
});

test('context_length_exceeded names the prompt length and the limit', async () => {
  const r = await env.h.post('/v1/chat/completions', { messages: [user('hi')], max_tokens: TEST_MAX_LENGTH });
  assert.equal(r.status, 400);
  const m = /the prompt is (\d+) tokens and max_tokens is 2048: (\d+) tokens exceed the model's context of 2048/.exec(r.body.error.message);
  assert.ok(m, r.body.error.message);
  assert.equal(Number(m[2]), Number(m[1]) + 2048);
  // Exactly filling the context is allowed.
  const fits = await env.h.post('/v1/chat/completions', { messages: [user('hi')], max_tokens: TEST_MAX_LENGTH - Number(m[1]) });
  assert.equal(fits.status, 200, JSON.stringify(fits.body));
});
