// The original ChatGLM-6B interfaces, driven with the request bodies of their own documentation
// (api.py's `POST /` and the stream API's `/chat` + `/get_response`) against a real cluster, and
// every field of the answers checked, types included.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildChatPrompt, ChatGLMTokenizer } from '@chatglm/tokenizer';
import { TOKENIZER_FILE } from '@chatglm/glm';
import path from 'node:path';
import { startTestCluster, waitUntil, type TestCluster } from '../support/test-cluster.ts';

let c: TestCluster;

before(async () => {
  // One KV slot: a second request really waits in the queue while the first runs. Replies never
  // end by themselves, so each runs to its length limit and is seen while it is generated; the
  // workers' 256-position cache caps every reply there (the bodies below ask for up to 2048).
  c = await startTestCluster({ stages: 2, maxSequences: 1, replies: 'endless', workerArgs: ['--max-tokens', '256'] });
});
after(async () => {
  await c?.stop();
});

/** POSTs a JSON text exactly as given; returns the status, the raw text and the parsed body. */
async function post(route: string, json: string): Promise<{ status: number; text: string; body: any }> {
  const res = await fetch(`${c.url}${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: json });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) };
}

/**
 * Checks one /get_response answer's shape and types; returns its `response` object. `changedAt`
 * (epoch ms) is when the request last changed, which its timestamp must give within a second.
 */
function checkPoll(r: { status: number; text: string; body: any }, changedAt: number) {
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['code', 'msg', 'response']);
  assert.equal(r.body.code, 0);
  assert.equal(r.body.msg, 'success');
  const p = r.body.response;
  assert.equal(typeof p.is_finished, 'boolean');
  assert.equal(typeof p.is_handled, 'boolean');
  assert.equal(typeof p.response, 'string');
  assert.equal(typeof p.timestamp, 'number');
  assert.match(r.text, /"timestamp":\d{10}\.\d+[,}]/, 'timestamp is written as a float, like time.time()');
  assert.ok(Math.abs(p.timestamp - changedAt / 1000) < 1, `timestamp ${p.timestamp} is within a second of ${changedAt / 1000}`);
  const extras = Object.keys(p).filter((k) => !['is_finished', 'is_handled', 'response', 'timestamp'].includes(k));
  assert.deepEqual(extras, p.is_finished ? ['finish_reason'] : [], 'only the documented fields (and finish_reason at the end)');
  return p as { is_finished: boolean; is_handled: boolean; response: string; timestamp: number; finish_reason?: string };
}

test('the stream API with its documented bodies: queued (is_handled false), generating, finished', async () => {
  // Fill the pipeline's one slot.
  const filler = await post('/chat', JSON.stringify({ request_id: 'filler', query: '你好', max_length: 400 }));
  assert.equal(filler.status, 200, filler.text);
  await waitUntil('the filler to run', async () => (await post('/get_response', '{"request_id": "filler"}')).body.response.is_handled);

  const start = await post('/chat', '{"history": [["你是谁？","我是智能机器人"]], "query": "你好", "request_id": "73"}');
  assert.equal(start.status, 200, start.text);
  assert.deepEqual(start.body, { code: 0, msg: 'start process' });

  const acceptedAt = Date.now();
  const polls: ReturnType<typeof checkPoll>[] = [];
  // Queued, the timestamp stays the acceptance time; generating, it moves with every token (one
  // every few ms), so it is within a second of the poll; finished, it is the end.
  const poll = async () => {
    const r = await post('/get_response', '{"request_id": "73"}');
    const p = checkPoll(r, r.body.response?.is_handled ? Date.now() : acceptedAt);
    polls.push(p);
    return p;
  };
  const queued = await poll();
  assert.deepEqual({ is_finished: queued.is_finished, is_handled: queued.is_handled, response: queued.response }, { is_finished: false, is_handled: false, response: '' });
  await new Promise((r) => setTimeout(r, 300));
  const stillQueued = await poll();
  assert.equal(stillQueued.is_handled, false);
  assert.equal(stillQueued.timestamp, queued.timestamp, 'a queued request does not change');
  assert.equal((await post('/get_response', '{"request_id": "filler"}')).body.response.is_finished, false, 'the filler still holds the slot, so 73 really waited');

  let last = queued;
  while (!last.is_finished) {
    last = await poll();
    await new Promise((r) => setTimeout(r, 20));
  }
  const generating = polls.filter((p) => p.is_handled && !p.is_finished && p.response.length > 0);
  assert.ok(generating.length >= 2, `polls while generating saw the text grow (${generating.length} of ${polls.length})`);
  for (let i = 1; i < polls.length; i++) assert.ok(polls[i]!.response.startsWith(polls[i - 1]!.response), 'the text only grows');
  assert.equal(last.is_handled, true);
  assert.equal(last.finish_reason, 'length');

  // The prior round of history went into the prompt.
  const state = await c.store.read('caller-73');
  const tokenizer = await ChatGLMTokenizer.load(path.join(c.modelDir, TOKENIZER_FILE));
  assert.equal(state?.promptTokens, tokenizer.encode(buildChatPrompt([['你是谁？', '我是智能机器人']], '你好')).length);
  assert.equal(state?.text, last.response);
});

test("api.py's POST / with its documented body: response, history, status, time", async () => {
  const r = await post('/', '{"prompt": "你好", "history": []}');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['history', 'response', 'status', 'time']);
  assert.equal(typeof r.body.response, 'string');
  assert.ok(r.body.response.length > 0);
  assert.deepEqual(r.body.history, [['你好', r.body.response]]);
  assert.equal(r.body.status, 200);
  assert.match(r.body.time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
});

test('POST / with temperature, top_p and max_length 0 answers exactly as without them (api.py: falsy means the default)', async () => {
  const absent = await post('/', '{"prompt": "你好", "history": [], "seed": 5}');
  const zeros = await post('/', '{"prompt": "你好", "history": [], "seed": 5, "temperature": 0, "top_p": 0, "max_length": 0}');
  assert.equal(absent.status, 200, absent.text);
  assert.equal(zeros.status, 200, zeros.text);
  assert.equal(zeros.body.response, absent.body.response);
  const greedy = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: '你好' }], temperature: 0, max_tokens: 8 }));
  assert.equal(greedy.status, 200, 'the OpenAI endpoint keeps temperature 0 = greedy');
});

test('a request the pipeline refuses for good (its prompt does not fit the stages\' cache) reaches the client as a 4xx with the code', async () => {
  const tokenizer = await ChatGLMTokenizer.load(path.join(c.modelDir, TOKENIZER_FILE));
  let query = '';
  while (tokenizer.encode(query).length <= 300) query += '春眠不觉晓，处处闻啼鸟。';
  // Within the model's 2048-token context, so the gateway accepts it; the workers cache 256 positions.
  const r = await post('/', JSON.stringify({ prompt: query, history: [] }));
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.error.code, 'context_length_exceeded');
  assert.equal(r.body.error.retryable, false);
  assert.match(r.body.error.message, /cached positions but the pipeline holds 256/);
});
