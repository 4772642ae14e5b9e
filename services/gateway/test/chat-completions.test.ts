// POST /v1/chat/completions and GET /v1/models: raw HTTP and the official `openai` client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';
import { DEFAULT_SCRIPT, FakeHead } from './support/fake-head.ts';
import { useHarness, testModel } from './support/harness.ts';

const REPLY = DEFAULT_SCRIPT.deltas.join('');

const env = useHarness();

const client = () => new OpenAI({ baseURL: `${env.h.base}/v1`, apiKey: 'x', maxRetries: 0 });

/** Reads an SSE response into its `data:` payloads (JSON-parsed, except [DONE]). */
async function readSse(res: Response): Promise<unknown[]> {
  const text = await res.text();
  // A block may open with its `id:` line (resumable streams); its payload is the `data:` line.
  return text
    .split('\n\n')
    .map((block) => /^data: (.*)$/m.exec(block)?.[1])
    .filter((data): data is string => data !== undefined)
    .map((data) => (data === '[DONE]' ? data : JSON.parse(data)));
}

test('non-stream: chat.completion with the reply, finish_reason and usage; system messages dropped, turns become history', async () => {
  const r = await env.h.post('/v1/chat/completions', {
    model: 'chatglm-6b',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: '你好' },
      { role: 'assistant', content: '你好👋！' },
      { role: 'user', content: '晚上睡不着应该怎么办' },
    ],
    max_tokens: 100,
    temperature: 0,
    top_p: 0.9,
    stop: '\n\n',
    seed: 42,
    frequency_penalty: 0, // unknown to ChatGLM: ignored, as OpenAI ignores fields it does not use
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const b = r.body;
  assert.match(b.id, /^chatcmpl-/);
  assert.equal(b.object, 'chat.completion');
  assert.equal(b.model, 'chatglm-6b');
  assert.ok(Math.abs(b.created - Date.now() / 1000) < 60);
  assert.deepEqual(b.choices, [{ index: 0, message: { role: 'assistant', content: REPLY }, logprobs: null, finish_reason: 'stop' }]);
  const job = env.h.fakeHead.jobs.at(-1)!;
  const { tokenizer } = await testModel();
  assert.deepEqual(job.promptIds, tokenizer.encode('[Round 0]\n问：你好\n答：你好👋！\n[Round 1]\n问：晚上睡不着应该怎么办\n答：'));
  assert.deepEqual(b.usage, { prompt_tokens: job.promptIds.length, completion_tokens: DEFAULT_SCRIPT.deltas.length, total_tokens: job.promptIds.length + DEFAULT_SCRIPT.deltas.length });
  assert.equal(job.params.maxNewTokens, 100);
  assert.equal(job.params.maxLength, 2048);
  assert.equal(job.params.temperature, 0);
  assert.equal(job.params.topP, 0.9);
  assert.deepEqual(job.params.stop, ['\n\n']);
  assert.equal(job.params.seed, 42n);
});

test('finish_reason "length" is passed through; defaults are ChatGLM\'s', async () => {
  env.h.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, finishReason: 'length' });
  try {
    const r = await env.h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(r.status, 200);
    assert.equal(r.body.choices[0].finish_reason, 'length');
    const job = env.h.fakeHead.jobs.at(-1)!;
    assert.deepEqual([job.params.topP, job.params.temperature, job.params.maxLength, job.params.maxNewTokens], [0.7, 0.95, 2048, undefined]);
  } finally {
    env.h.fakeHead.script = () => DEFAULT_SCRIPT;
  }
});

test('stream: role chunk, content deltas, finish_reason chunk, usage chunk, [DONE]', async () => {
  const res = await fetch(`${env.h.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chatglm-6b', messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = await readSse(res);
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1) as { id: string; object: string; model: string; created: number; choices: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage?: Record<string, number> }[];
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, chunks[0]!.id);
    assert.equal(c.model, 'chatglm-6b');
  }
  assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
  const content = chunks.slice(1, -2);
  assert.deepEqual(content.map((c) => c.choices[0]!.delta.content), DEFAULT_SCRIPT.deltas, 'one content chunk per streamed delta');
  assert.ok(content.every((c) => c.choices[0]!.finish_reason === null));
  assert.deepEqual(chunks.at(-2)!.choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
  const usage = chunks.at(-1)!;
  assert.deepEqual(usage.choices, []);
  const job = env.h.fakeHead.jobs.at(-1)!;
  assert.deepEqual(usage.usage, { prompt_tokens: job.promptIds.length, completion_tokens: 5, total_tokens: job.promptIds.length + 5 });
});

test('stream_options.include_usage false leaves the usage chunk out', async () => {
  const res = await fetch(`${env.h.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: false } }),
  });
  const events = await readSse(res);
  assert.equal(events.at(-1), '[DONE]');
  assert.ok(!events.some((e) => typeof e === 'object' && e !== null && 'usage' in e));
});

test('the official openai client streams a completion and receives the usage chunk', async () => {
  const stream = await client().chat.completions.create({
    model: 'chatglm-6b',
    messages: [{ role: 'user', content: '你好' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, REPLY);
  assert.equal(finish, 'stop');
  assert.equal(usage?.completion_tokens, 5);
  assert.equal(usage?.total_tokens, (usage?.prompt_tokens ?? 0) + 5);
});

test('the official openai client: non-stream completion, models list, errors as APIError', async () => {
  const c = client();
  const completion = await c.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 });
  assert.equal(completion.choices[0]?.message.content, REPLY);
  assert.equal(completion.usage?.completion_tokens, 5);

  const models = await c.models.list();
  assert.deepEqual(models.data.map((m) => [m.id, m.object, m.owned_by]), [['chatglm-6b', 'model', 'chatglm-cluster']]);
  assert.equal((await c.models.retrieve('chatglm-6b')).id, 'chatglm-6b');

  await assert.rejects(
    c.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: 'hi' }], top_p: 1.5 }),
    (err: unknown) => err instanceof OpenAI.BadRequestError && /top_p must be in \(0, 1\], got 1\.5/.test(err.message),
  );
  await assert.rejects(c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => err instanceof OpenAI.NotFoundError);
});

test('GET /v1/models lists the served model', async () => {
  const r = await env.h.get('/v1/models');
  assert.equal(r.status, 200);
  assert.equal(r.body.object, 'list');
  assert.equal(r.body.data.length, 1);
  assert.equal(r.body.data[0].id, 'chatglm-6b');
  assert.equal(typeof r.body.data[0].created, 'number');
  assert.equal((await env.h.get('/v1/models/other')).status, 404);
});

test('a pipeline error in a stream arrives as an error chunk, which the openai client raises', async () => {
  env.h.fakeHead.script = () => ({ ...DEFAULT_SCRIPT, deltas: ['半'], error: { code: 'stage_unavailable', message: 'stage 1 went away' } });
  try {
    const stream = await client().chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    }, /stage 1 went away/);
    assert.equal(text, '半', 'the text before the error was delivered');
  } finally {
    env.h.fakeHead.script = () => DEFAULT_SCRIPT;
  }
});

test('logprobs: the official openai client gets each token with its logprob, bytes and top alternatives, whole and streamed', async () => {
  const { tokenizer } = await testModel();
  const text = (id: number) => new TextDecoder().decode(tokenizer.tokenBytes(id));
  const expected = DEFAULT_SCRIPT.deltas.map((_, i) => {
    const t = FakeHead.token(i, 2);
    return {
      token: text(t.tokenId),
      logprob: t.logprob,
      bytes: Array.from(tokenizer.tokenBytes(t.tokenId)),
      top_logprobs: (t.topLogprobs ?? []).map((a) => ({ token: text(a.tokenId), logprob: a.logprob, bytes: Array.from(tokenizer.tokenBytes(a.tokenId)) })),
    };
  });
  const c = client();
  const whole = await c.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: 'hi' }], logprobs: true, top_logprobs: 2 });
  assert.equal(env.h.fakeHead.jobs.at(-1)?.logprobs, 2, 'the job asks the pipeline for 2 alternatives');
  assert.deepEqual(whole.choices[0]?.logprobs, { content: expected, refusal: null });

  const stream = await c.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: 'hi' }], logprobs: true, top_logprobs: 2, stream: true });
  const streamed: unknown[] = [];
  for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  assert.deepEqual(streamed, expected);

  const plain = await c.chat.completions.create({ model: 'chatglm-6b', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(plain.choices[0]?.logprobs, null, 'no logprobs unless asked for');
  assert.equal(env.h.fakeHead.jobs.at(-1)?.logprobs, undefined);
  const refused = await env.h.post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], top_logprobs: 2 });
  assert.deepEqual([refused.status, refused.body.error.message], [400, 'top_logprobs needs logprobs: true']);
});

test('content parts of text are read in order; empty tools, tool_choice "none" and a text response_format are accepted', async () => {
  const r = await env.h.post('/v1/chat/completions', {
    messages: [{ role: 'user', content: [{ type: 'text', text: '晚上睡不着' }, { type: 'text', text: '应该怎么办' }] }],
    tools: [],
    tool_choice: 'none',
    response_format: { type: 'text' },
    temperature: 1e-40,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const job = env.h.fakeHead.jobs.at(-1)!;
  const { tokenizer } = await testModel();
  // Without history ChatGLM-6B's prompt is the query itself.
  assert.deepEqual(job.promptIds, tokenizer.encode('晚上睡不着应该怎么办'));
  assert.equal(job.params.temperature, 1e-40, 'a tiny temperature is passed on; the pipeline decodes it greedily');
});
