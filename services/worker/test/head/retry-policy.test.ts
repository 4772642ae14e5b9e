// When a failed request goes back to the queue: a pure decision, tested on its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { failureOutcome } from '../../src/head/retry-policy.ts';

const job = (attemptsBefore: number, maxAttempts = 3) => ({ attemptsBefore, maxAttempts });

test('a retryable code with attempts left goes back to the queue', () => {
  assert.equal(failureOutcome({ code: 'pipeline_lost', message: '' }, job(0)), 'retry');
  assert.equal(failureOutcome({ code: 'stage_unavailable', message: '' }, job(1)), 'retry');
});

test('the last attempt, a code no retry can fix, record the failure', () => {
  assert.equal(failureOutcome({ code: 'pipeline_lost', message: '' }, job(2)), 'fail', 'the third of three attempts');
  assert.equal(failureOutcome({ code: 'context_length_exceeded', message: '' }, job(0)), 'fail');
  assert.equal(failureOutcome({ code: 'stage_internal', message: '' }, job(0)), 'fail');
  assert.equal(failureOutcome({ code: 'pipeline_lost', message: '' }, job(0, 1)), 'fail', 'a job of one attempt');
});
