// API keys, request-id namespaces, per-key rate limits, JSON-only bodies and the CORS allow-list,
// against a gateway with two keys (and a fake head).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiKeys } from '../src/auth/api-keys.ts';
import { Harness } from './support/harness.ts';
import { startTestRedis, type TestRedis } from '../../../test/support/redis-server.ts';

const ALICE = 'alice-0123456789abcdef-secret';
const BOB = 'bob-fedcba9876543210-secret';
const RATE_LIMIT = 5;
const ALLOWED_ORIGIN = 'https://chat.example.com';

// Every line the gateway can log is kept, so that a key in any of them would be found.
process.env.CHATGLM_LOG_LEVEL = 'debug';

let redis: TestRedis;
let h: Harness;
before(async () => {
  redis = await startTestRedis();
  h = await Harness.start(redis.url, { options: { apiKeys: ApiKeys.parse(`# two clients\n${ALICE}\n${BOB}\n`, 'test keys'), rateLimitPerMinute: RATE_LIMIT, corsOrigins: [ALLOWED_ORIGIN] } });
});
after(async () => {
  await h?.close();
  await redis?.stop();
});

const as = (key: string | undefined, extra: Record<string, string> = {}) => ({ headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }), ...extra } });

const ENDPOINTS: [string, unknown][] = [
  ['/', { prompt: 'hi' }],
  ['/chat', { query: 'hi', request_id: 'auth-probe' }],
  ['/get_response', { request_id: 'auth-probe' }],
  ['/chat/cancel', { id: 'auth-probe' }],
  ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }],
];

test('no key, a malformed header or a wrong key: 401 with WWW-Authenticate on every generation endpoint; nothing is queued', async () => {
  const jobs = h.fakeHead.jobs.length;
  for (const [path, body] of ENDPOINTS) {
    for (const [headers, message] of [
      [as(undefined), /needs an API key: send Authorization: Bearer <key>/],
      [as(undefined, { authorization: `Basic ${ALICE}` }), /must be "Bearer <key>"/],
      [as('not-a-key-of-this-gateway'), /the API key is not accepted/],
    ] as const) {
      const r = await h.post(path, body, headers);
      assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      assert.equal(r.body.error.code, 'unauthorized');
      assert.match(r.body.error.message, message);
    }
  }
  assert.equal((await fetch(`${h.base}/v1/models`)).status, 401);
  assert.equal(h.fakeHead.jobs.length, jobs);
  // Health, readiness, metrics and the page stay open (probes and scrapers carry no key).
  for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await fetch(`${h.base}${path}`)).status, 200, path);
});

test('with a key every endpoint works; the keys never appear in the logs', async () => {
  assert.equal((await h.post('/', { prompt: 'hi' }, as(ALICE))).status, 200);
  assert.equal((await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }, as(BOB))).status, 200);
  assert.equal((await fetch(`${h.base}/v1/models`, as(ALICE))).status, 200);
  const log = h.logs.join('\n');
  assert.ok(log.length > 0);
  for (const key of [ALICE, BOB]) assert.ok(!log.includes(key), 'a key was logged');
});

test("request ids are per key: another key's id is 404 (poll or cancel), and both keys may use the same id", async () => {
  const id = `shared-${Date.now()}`;
  assert.equal((await h.post('/chat', { query: 'hi', request_id: id }, as(ALICE))).status, 200);
  const foreign = await h.post('/get_response', { request_id: id }, as(BOB));
  assert.equal(foreign.status, 404);
  assert.equal(foreign.body.error.code, 'request_not_found');
  const foreignCancel = await h.post('/chat/cancel', { id }, as(BOB));
  assert.equal(foreignCancel.status, 404);
  assert.equal(foreignCancel.body.error.code, 'request_not_found');
  assert.equal((await h.post('/chat', { query: 'hi', request_id: id }, as(BOB))).status, 200, "Bob's id of the same name is his own");
  for (const key of [ALICE, BOB]) {
    const own = await h.post('/get_response', { request_id: id }, as(key));
    assert.equal(own.status, 200);
  }
  // The same key reusing its own id is still a duplicate.
  assert.equal((await h.post('/chat', { query: 'hi', request_id: id }, as(ALICE))).status, 409);
});

test('past its per-minute limit a key gets 429 with Retry-After; the other key is not affected', async () => {
  const key = `carol-${Date.now()}-limit-test-key`;
  const limited = await Harness.start(redis.url, { options: { apiKeys: ApiKeys.parse(`${key}\n${BOB}`, 'test keys'), rateLimitPerMinute: 2 } });
  try {
    const send = (k: string) => limited.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }, as(k));
    const statuses = [(await send(key)).status, (await send(key)).status];
    const refused = await send(key);
    // Two requests may straddle a minute's end; then the third is the new minute's second.
    if (refused.status === 200) assert.equal((await send(key)).status, 429);
    else {
      assert.deepEqual(statuses, [200, 200]);
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error.code, 'rate_limited');
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    }
    assert.equal((await send(BOB)).status, 200, 'another key has its own count');
  } finally {
    await limited.close();
  }
});

test('bodies must be declared as JSON: a cross-site form post is refused with 415 before the key is even read', async () => {
  const form = await fetch(`${h.base}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' }, body: 'prompt=hi' });
  assert.equal(form.status, 415);
  assert.equal(form.headers.get('access-control-allow-origin'), null);
  const text = await fetch(`${h.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${ALICE}` }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(text.status, 415);
});

test('CORS: an allowed origin gets its preflight and headers; any other origin is refused', async () => {
  const preflight = (origin: string) => fetch(`${h.base}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  const ok = await preflight(ALLOWED_ORIGIN);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN);
  assert.match(ok.headers.get('access-control-allow-headers') ?? '', /Authorization/);
  const bad = await preflight('https://evil.example');
  assert.equal(bad.status, 403);
  assert.equal(bad.headers.get('access-control-allow-origin'), null);
  const reply = await h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }, as(ALICE, { origin: ALLOWED_ORIGIN }));
  assert.equal(reply.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN);
});

test('keys files: blank lines and comments are skipped; short keys and empty files are refused without showing a key', () => {
  assert.equal(ApiKeys.parse(`\n# c\n${ALICE}  # trailing\n,${BOB}`, 'f').size, 2);
  assert.throws(() => ApiKeys.parse('short-key', 'f'), (e: Error) => /API key 1 of f is shorter than 16/.test(e.message) && !e.message.includes('short-key'));
  assert.throws(() => ApiKeys.parse('# nothing\n', 'f'), /f holds no API key/);
  assert.notEqual(ApiKeys.parse(ALICE, 'f').identify(ALICE)?.tag, ApiKeys.parse(BOB, 'f').identify(BOB)?.tag);
  assert.equal(ApiKeys.parse(ALICE, 'f').identify(`${ALICE}x`), undefined);
});
