// Property-based fuzzing of the gateway (fast-check): thousands of random and mutated bodies,
// headers, content types and methods against every endpoint. Every answer is a success or a
// documented error: a 4xx whose code is in the error registry with that status, never a 5xx, never
// a hang; and the gateway still serves a normal request afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ERROR_CODES, isErrorCode } from '@chatglm/common';
import { DEFAULT_SCRIPT } from './support/fake-head.ts';
import { useHarness } from './support/harness.ts';

/** Requests per run: the floor. */
const RUNS = 2000;
/** No answer may take longer (the fake head replies in milliseconds). */
const ANSWER_WITHIN_MS = 10_000;

const env = useHarness((h) => {
  h.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, delayMs: 1 });
});

const PATHS = ['/', '/chat', '/get_response', '/chat/cancel', '/v1/chat/completions', '/v1/models', '/v1/models/chatglm-6b', '/healthz', '/readyz', '/metrics', '/web/chat.js', '/nowhere'];

/** Bodies each endpoint takes, for mutating into almost-valid ones. */
const VALID: Record<string, Record<string, unknown>> = {
  '/': { prompt: '你好', history: [['a', 'b']], max_length: 64, top_p: 0.7, temperature: 0.95 },
  '/chat': { query: 'hi', history: [], request_id: 'fuzz', max_length: 64 },
  '/get_response': { request_id: 'fuzz', cursor: 0 },
  '/chat/cancel': { id: 'fuzz' },
  '/v1/chat/completions': { messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, temperature: 0.5, top_p: 0.9, stream: false, logprobs: false, seed: 1, stop: ['\n'] },
};

const headerText = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789/+-=;. *,'.split('')), maxLength: 40 });

/** A valid body with some fields replaced by anything JSON can hold, or dropped. */
const mutated = fc.constantFrom(...Object.values(VALID)).chain((base) =>
  fc
    .record({ replace: fc.subarray(Object.keys(base)), values: fc.array(fc.jsonValue({ maxDepth: 3 }), { minLength: 6, maxLength: 6 }), drop: fc.subarray(Object.keys(base)) })
    .map(({ replace, values, drop }) => {
      const body: Record<string, unknown> = { ...base };
      replace.forEach((k, i) => (body[k] = values[i % values.length]));
      for (const k of drop) delete body[k];
      return JSON.stringify(body);
    }),
);

const body = fc.oneof(
  mutated,
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constant(''),
);

const request = fc.record({
  path: fc.constantFrom(...PATHS),
  method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS'),
  contentType: fc.option(fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json'), headerText), { nil: undefined }),
  accept: fc.option(fc.oneof(fc.constantFrom('text/html', 'application/json', '*/*', 'text/event-stream'), headerText), { nil: undefined }),
  authorization: fc.option(headerText, { nil: undefined }),
  origin: fc.option(fc.constantFrom('https://evil.example', 'null'), { nil: undefined }),
  body,
});

test(`${RUNS} random and mutated requests get only successes and documented 4xx answers; the gateway still serves`, async () => {
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = {};
      if (r.contentType !== undefined) headers['content-type'] = r.contentType;
      if (r.accept !== undefined) headers.accept = r.accept;
      if (r.authorization !== undefined) headers.authorization = r.authorization;
      if (r.origin !== undefined) headers.origin = r.origin;
      const hasBody = r.method !== 'GET' && r.method !== 'OPTIONS';
      const res = await fetch(env.h.base + r.path, { method: r.method, headers, ...(hasBody && { body: r.body }), signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
      const text = await res.text();
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `${r.method} ${r.path} answered ${res.status}: ${text.slice(0, 300)}`);
      if (res.status >= 400) {
        const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
        assert.ok(isErrorCode(code), `${r.method} ${r.path} ${res.status}: not a registry code: ${text.slice(0, 300)}`);
        assert.equal(res.status, ERROR_CODES[code].http, `${code} is documented as ${ERROR_CODES[code].http}`);
      }
    }),
    { numRuns: RUNS },
  );
  console.log(`# statuses: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
  assert.ok((seen.get(200) ?? 0) > 0 && [...seen.keys()].some((s) => s >= 400), 'the runs hit both successes and refusals');
  // Still serving a normal request.
  const ok = await env.h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.choices[0].message.content, DEFAULT_SCRIPT.deltas.join(''));
});
