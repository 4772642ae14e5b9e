// The table of malformed requests with their documented status and error code. The gateway's own
// test runs it against a fake head; test/cluster runs it against the real cluster.
import assert from 'node:assert/strict';

export interface BadInputCase {
  name: string;
  method?: 'GET' | 'POST';
  path: string;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  status: number;
  code: string;
  /** The stream API's numeric code, for /chat and /get_response. */
  legacy?: number;
  message?: RegExp;
}

export const user = (content: unknown) => ({ role: 'user', content });
const LONG_PROMPT = '你好 hello world, '.repeat(2000); // ~10k tokens, 34k characters
const OVER_BODY_LIMIT = 'a'.repeat(1.1 * 1024 * 1024);
const ONE_MB = 'a'.repeat(1_000_000); // under the body limit, far over the context
/** A /chat request_id the runner must register first, so that the duplicate case is one. */
export const DUPLICATE_ID = `dup-${process.pid}`;

export const BAD_INPUT_CASES: BadInputCase[] = [
  // POST / (api.py)
  { name: 'bad JSON', path: '/', body: '{"prompt": "hi"', status: 400, code: 'invalid_json' },
  { name: 'body is an array', path: '/', body: ['hi'], status: 400, code: 'invalid_request', message: /^request body must be a JSON object/ },
  { name: 'body is a bare string', path: '/', body: '"hi"', status: 400, code: 'invalid_json' },
  { name: 'missing prompt', path: '/', body: { history: [] }, status: 400, code: 'invalid_request', message: /^prompt is required$/ },
  { name: 'prompt is a number', path: '/', body: { prompt: 5 }, status: 400, code: 'invalid_request', message: /^prompt must be a string, got 5$/ },
  { name: 'negative max_length', path: '/', body: { prompt: 'hi', max_length: -1 }, status: 400, code: 'invalid_request', message: /^max_length must be an integer in \[1, 2048\], got -1$/ },
  { name: 'huge max_length', path: '/', body: { prompt: 'hi', max_length: 1e9 }, status: 400, code: 'invalid_request', message: /max_length must be an integer in \[1, 2048\], got 1000000000/ },
  { name: 'fractional max_length', path: '/', body: { prompt: 'hi', max_length: 10.5 }, status: 400, code: 'invalid_request', message: /max_length must be an integer/ },
  { name: 'max_length as a string', path: '/', body: { prompt: 'hi', max_length: '2048' }, status: 400, code: 'invalid_request', message: /max_length must be an integer in \[1, 2048\], got string "2048"/ },
  { name: 'top_p above 1', path: '/', body: { prompt: 'hi', top_p: 1.5 }, status: 400, code: 'invalid_request', message: /^top_p must be in \(0, 1\], got 1\.5$/ },
  { name: 'top_p below 0', path: '/', body: { prompt: 'hi', top_p: -0.1 }, status: 400, code: 'invalid_request', message: /top_p must be in \(0, 1\], got -0\.1/ },
  { name: 'negative temperature', path: '/', body: { prompt: 'hi', temperature: -0.5 }, status: 400, code: 'invalid_request', message: /^temperature must be in \(0, 100\], got -0\.5$/ },
  { name: 'history of strings, not pairs', path: '/', body: { prompt: 'hi', history: ['a', 'b'] }, status: 400, code: 'invalid_request', message: /^history\[0\] must be a \[query, response\] pair of strings/ },
  { name: 'history pair of one', path: '/', body: { prompt: 'hi', history: [['a']] }, status: 400, code: 'invalid_request', message: /^history\[0\] must be a \[query, response\] pair/ },
  { name: 'history pair with a number', path: '/', body: { prompt: 'hi', history: [['a', 1]] }, status: 400, code: 'invalid_request', message: /^history\[0\]\[1\] must be a string, got 1$/ },
  { name: 'history as an object', path: '/', body: { prompt: 'hi', history: { a: 'b' } }, status: 400, code: 'invalid_request', message: /^history must be an array/ },
  { name: 'body over 1 MiB', path: '/', body: { prompt: OVER_BODY_LIMIT }, status: 413, code: 'payload_too_large' },
  { name: '1 MB prompt under the body limit', path: '/', body: { prompt: ONE_MB }, status: 400, code: 'context_length_exceeded', message: /1000000 characters.*2048 tokens/ },
  { name: 'prompt over the context by tokens', path: '/', body: { prompt: LONG_PROMPT }, status: 400, code: 'context_length_exceeded', message: /the prompt is \d{4,} tokens.*max_length 2048/ },
  { name: 'prompt longer than max_length', path: '/', body: { prompt: 'hello world, hello world', max_length: 3 }, status: 400, code: 'context_length_exceeded', message: /the prompt is \d+ tokens.*max_length 3/ },
  // The stream API
  { name: '/chat without request_id', path: '/chat', body: { query: 'hi' }, status: 400, code: 'invalid_request', legacy: 103, message: /^request_id is required$/ },
  { name: '/chat without query', path: '/chat', body: { request_id: 'nq', history: [] }, status: 400, code: 'invalid_request', legacy: 103, message: /^query is required$/ },
  { name: '/chat query and prompt that differ', path: '/chat', body: { request_id: 'qp', query: 'hi', prompt: 'hello' }, status: 400, code: 'invalid_request', legacy: 103, message: /^prompt is another name of query/ },
  { name: '/chat request_id with a space', path: '/chat', body: { request_id: 'a b', query: 'hi' }, status: 400, code: 'invalid_request', legacy: 103, message: /^request_id must be 1-128 characters/ },
  { name: '/chat request_id of 129 characters', path: '/chat', body: { request_id: 'x'.repeat(129), query: 'hi' }, status: 400, code: 'invalid_request', legacy: 103 },
  { name: '/chat request_id as a number', path: '/chat', body: { request_id: 7, query: 'hi' }, status: 400, code: 'invalid_request', legacy: 103, message: /request_id must be a string, got 7/ },
  { name: '/chat duplicate request_id', path: '/chat', body: { request_id: DUPLICATE_ID, query: 'hi' }, status: 409, code: 'duplicate_request_id', legacy: 101 },
  { name: '/chat bad JSON', path: '/chat', body: '{', status: 400, code: 'invalid_json', legacy: 103 },
  { name: '/chat top_p above 1', path: '/chat', body: { request_id: 'tp', query: 'hi', top_p: 2 }, status: 400, code: 'invalid_request', legacy: 103, message: /top_p must be in \(0, 1\], got 2/ },
  { name: '/get_response unknown request_id', path: '/get_response', body: { request_id: 'nobody' }, status: 404, code: 'request_not_found', legacy: 102 },
  { name: '/get_response negative cursor', path: '/get_response', body: { request_id: DUPLICATE_ID, cursor: -1 }, status: 400, code: 'invalid_request', legacy: 103, message: /^cursor must be an integer >= 0, got -1$/ },
  { name: '/get_response cursor as a string', path: '/get_response', body: { request_id: DUPLICATE_ID, cursor: 'a' }, status: 400, code: 'invalid_request', legacy: 103 },
  // OpenAI
  { name: 'no messages field', path: '/v1/chat/completions', body: { model: 'chatglm-6b' }, status: 400, code: 'invalid_request', message: /^messages is required$/ },
  { name: 'empty messages', path: '/v1/chat/completions', body: { messages: [] }, status: 400, code: 'invalid_request', message: /^messages must have at least 1 item/ },
  { name: 'unknown role', path: '/v1/chat/completions', body: { messages: [{ role: 'bot', content: 'hi' }] }, status: 400, code: 'invalid_request', message: /^messages\[0\]\.role must be one of .*got string "bot"/ },
  { name: 'content a number', path: '/v1/chat/completions', body: { messages: [user(5)] }, status: 400, code: 'invalid_request', message: /^messages\[0\]\.content must be a string or an array of \{type: "text", text\} parts, got 5$/ },
  { name: 'an image content part', path: '/v1/chat/completions', body: { messages: [user([{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png' } }])] }, status: 400, code: 'invalid_request', message: /^messages\[0\]\.content\[1\]\.type "image_url" parts are not supported: ChatGLM-6B reads text only$/ },
  { name: 'tools', path: '/v1/chat/completions', body: { messages: [user('hi')], tools: [{ type: 'function', function: { name: 'f' } }] }, status: 400, code: 'invalid_request', message: /^tools is not supported: ChatGLM-6B has no tool calling$/ },
  { name: 'response_format json_object', path: '/v1/chat/completions', body: { messages: [user('hi')], response_format: { type: 'json_object' } }, status: 400, code: 'invalid_request', message: /^response_format is not supported/ },
  { name: 'message without content', path: '/v1/chat/completions', body: { messages: [{ role: 'user' }] }, status: 400, code: 'invalid_request', message: /^messages\[0\]\.content is required$/ },
  { name: 'last message from the assistant', path: '/v1/chat/completions', body: { messages: [user('hi'), { role: 'assistant', content: 'hello' }] }, status: 400, code: 'invalid_request', message: /must end with a user message/ },
  { name: 'only a system message', path: '/v1/chat/completions', body: { messages: [{ role: 'system', content: 'be nice' }] }, status: 400, code: 'invalid_request', message: /must end with a user message/ },
  { name: 'n = 2', path: '/v1/chat/completions', body: { messages: [user('hi')], n: 2 }, status: 400, code: 'invalid_request', message: /^n must be 1/ },
  { name: 'stop with 5 strings', path: '/v1/chat/completions', body: { messages: [user('hi')], stop: ['a', 'b', 'c', 'd', 'e'] }, status: 400, code: 'invalid_request', message: /^stop must be a string or an array of at most 4 strings/ },
  { name: 'stop as a number', path: '/v1/chat/completions', body: { messages: [user('hi')], stop: 5 }, status: 400, code: 'invalid_request', message: /^stop must be/ },
  { name: 'non-integer seed', path: '/v1/chat/completions', body: { messages: [user('hi')], seed: 1.5 }, status: 400, code: 'invalid_request', message: /^seed must be an integer/ },
  { name: 'temperature above 2', path: '/v1/chat/completions', body: { messages: [user('hi')], temperature: 2.5 }, status: 400, code: 'invalid_request', message: /^temperature must be in \[0, 2\], got 2\.5$/ },
  { name: 'temperature below 0', path: '/v1/chat/completions', body: { messages: [user('hi')], temperature: -1 }, status: 400, code: 'invalid_request' },
  { name: 'top_p above 1 (OpenAI)', path: '/v1/chat/completions', body: { messages: [user('hi')], top_p: 1.5 }, status: 400, code: 'invalid_request', message: /^top_p must be in \(0, 1\], got 1\.5$/ },
  { name: 'max_tokens 0', path: '/v1/chat/completions', body: { messages: [user('hi')], max_tokens: 0 }, status: 400, code: 'invalid_request', message: /^max_tokens must be an integer >= 1, got 0$/ },
  { name: 'max_tokens over the context', path: '/v1/chat/completions', body: { messages: [user('hi')], max_tokens: 1_000_000 }, status: 400, code: 'context_length_exceeded', message: /the prompt is \d+ tokens and max_tokens is 1000000.*context of 2048/ },
  { name: 'messages over the context by tokens', path: '/v1/chat/completions', body: { messages: [user(LONG_PROMPT)] }, status: 400, code: 'context_length_exceeded', message: /the prompt is \d{4,} tokens.*context is 2048 tokens/ },
  { name: 'stream as a string', path: '/v1/chat/completions', body: { messages: [user('hi')], stream: 'yes' }, status: 400, code: 'invalid_request', message: /^stream must be a boolean/ },
  { name: 'another model', path: '/v1/chat/completions', body: { model: 'gpt-4o', messages: [user('hi')] }, status: 404, code: 'model_not_found', message: /gpt-4o/ },
  { name: 'bad JSON (OpenAI)', path: '/v1/chat/completions', body: '{"messages": [}', status: 400, code: 'invalid_json' },
  // Routes
  { name: 'unknown route', method: 'GET', path: '/nope', status: 404, code: 'not_found' },
  { name: 'unknown POST route', path: '/v1/completions', body: { prompt: 'hi' }, status: 404, code: 'not_found' },
];

/** Checks one reply against its case; the message names the case. */
export function assertBadInputReply(c: BadInputCase, r: { status: number; body: any }): void {
  const label = `${c.name}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`;
  assert.equal(r.status, c.status, label);
  assert.equal(r.body.error?.code, c.code, label);
  assert.equal(typeof r.body.error.message, 'string', label);
  if (c.message) assert.match(r.body.error.message, c.message, label);
  if (c.legacy !== undefined) {
    assert.equal(r.body.code, c.legacy, label);
    assert.equal(r.body.msg, r.body.error.message, label);
  }
}
