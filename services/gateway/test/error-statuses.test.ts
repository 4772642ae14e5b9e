// Every error code reaches an HTTP client with the status the error registry gives it: a request
// the pipeline refuses as the client's mistake is a 4xx, a broken pipeline a 5xx.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatGlmError, ERROR_CODES, type ErrorCode } from '@chatglm/common';
import { toGatewayError } from '../src/error-handler.ts';
import { generationFailed } from '../src/errors.ts';

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

test('the gateway answers every code with its registry status; a pipeline\'s non-retryable refusal is a 4xx', () => {
  for (const code of codes) {
    const e = toGatewayError(new ChatGlmError(code, 'x'));
    assert.equal(e.status, ERROR_CODES[code].http, code);
    assert.equal(e.code, code);
    assert.equal(generationFailed(code, 'y').status, ERROR_CODES[code].http, code);
  }
  assert.equal(generationFailed('context_length_exceeded', 'too long').status, 400);
  assert.equal(generationFailed('stage_unavailable', 'gone').status, 503);
  assert.equal(toGatewayError(new TypeError('a bug')).code, 'internal_error');
});
