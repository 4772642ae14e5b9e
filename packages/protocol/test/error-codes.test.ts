// The error registry (@chatglm/common ERROR_CODES) is the one table of codes: every code maps to
// an HTTP status (what the gateway answers) and a gRPC status (what a stage answers), and the gRPC
// boundary carries the code, and with it whether a retry may succeed, through unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatGlmError, ERROR_CODES, errorCodeInfo, type ErrorCode } from '@chatglm/common';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { fromServiceError } from '../src/grpc-status.ts';
import { toStatus } from '../src/index.ts';

const codes = Object.keys(ERROR_CODES) as ErrorCode[];

test(`each of the ${codes.length} error codes has an HTTP status, a gRPC status and a meaning`, () => {
  assert.ok(codes.length >= 50);
  for (const code of codes) {
    const info = errorCodeInfo(code);
    assert.match(code, /^[a-z][a-z_]*$/, code);
    assert.ok(Number.isInteger(info.http) && info.http >= 400 && info.http < 600, `${code}: HTTP ${info.http}`);
    assert.equal(typeof status[info.grpc], 'number', `${code}: gRPC ${info.grpc}`);
    assert.notEqual(status[info.grpc], status.OK, code);
    assert.ok(info.meaning.length > 10, `${code} says when it happens`);
    // Retrying what the client got wrong never helps.
    if (info.http >= 400 && info.http < 500 && info.http !== 429) assert.equal(info.retryable, false, `${code} is a client error and so not retryable`);
  }
});

test('a stage failing a call with any code: the caller rebuilds the same code and retryable', () => {
  for (const code of codes) {
    const sent = toStatus(new ChatGlmError(code, `failed with ${code}`));
    assert.equal(sent.code, status[ERROR_CODES[code].grpc], code);
    const received = fromServiceError(Object.assign(new Error(sent.details), { code: sent.code, details: sent.details, metadata: sent.metadata ?? new Metadata() }) as ServiceError, '10.0.0.1:50051', 'Step stream');
    assert.equal(received.code, code);
    assert.equal(received.retryable, ERROR_CODES[code].retryable, code);
  }
  // A status with no code of ours (a dead peer, a proxy) is derived from the status.
  const bare = fromServiceError(Object.assign(new Error('x'), { code: status.UNAVAILABLE, details: 'connection refused', metadata: new Metadata() }) as ServiceError, 'a:1', 'Info');
  assert.deepEqual([bare.code, bare.retryable], ['stage_unavailable', true]);
});
