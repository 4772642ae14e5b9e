// The head's part of a step: its own layers, then the stream to stage 1 (or the reply at once when
// the head holds every layer); failures come back as replies with an error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatGlmError } from '@chatglm/common';
import type { StepReply, StepRequest } from '@chatglm/protocol';
import { StepDispatcher } from '../../src/head/step-dispatcher.ts';
import { FakeDownstream, FakeForwardingStep, FakeSamplingStep, quietLogger } from '../support/head-fakes.ts';

const request = (stepId: number): StepRequest => ({
  stepId,
  entries: [{ seqId: 's', phase: 'PHASE_DECODE', tokenIds: [5], positions: [3], blockPositions: [1], contextLength: 0, activations: Buffer.alloc(0), sampleIndex: 0 }],
});

test('a head holding every layer replies itself, with its timing', async () => {
  const replies: StepReply[] = [];
  const d = new StepDispatcher({ step: new FakeSamplingStep(() => 7), downstream: null, onReply: (r) => replies.push(r), log: quietLogger() });
  assert.equal(d.ready, true);
  await d.dispatch(request(1));
  assert.deepEqual(replies.map((r) => [r.stepId, r.results.map((x) => x.tokenId), r.timings.length]), [[1, [7], 1]]);
});

test('a head before other stages sends the step down the stream; a failure while the stream is up is that step\'s', async () => {
  const replies: StepReply[] = [];
  const downstream = new FakeDownstream();
  const step = new FakeForwardingStep();
  const d = new StepDispatcher({ step, downstream, onReply: (r) => replies.push(r), log: quietLogger() });
  await d.dispatch(request(1));
  assert.deepEqual(downstream.sent.map((r) => r.stepId), [1]);
  assert.deepEqual(replies, []);
  step.failWith = new ChatGlmError('kv_capacity', 'full');
  await d.dispatch(request(2));
  assert.deepEqual(replies, [{ stepId: 2, results: [], timings: [], error: { code: 'kv_capacity', message: 'full' } }]);
});

test('a reply from downstream reaches the head with the head\'s own timing first', async () => {
  const replies: StepReply[] = [];
  const downstream = new FakeDownstream();
  const d = new StepDispatcher({ step: new FakeForwardingStep(), downstream, onReply: (r) => replies.push(r), log: quietLogger() });
  await d.dispatch(request(4));
  const later = { layerStart: 2, layerEnd: 4, forwardMs: 1.5 };
  d.fromDownstream({ stepId: 4, results: [{ seqId: 's', tokenId: 9, logprob: -1, topLogprobs: [] }], timings: [later] });
  assert.equal(replies.length, 1);
  assert.equal(replies[0]?.timings.length, 2);
  assert.deepEqual(replies[0]?.timings[1], later);
  assert.notDeepEqual(replies[0]?.timings[0], later, 'the first timing is the head\'s');
  // A reply the head did not send (or sent before the stream broke) goes on unchanged.
  d.forgetInFlight();
  d.fromDownstream({ stepId: 5, results: [], timings: [later] });
  assert.deepEqual(replies[1]?.timings, [later]);
});

test('with the stream down nothing goes out and a failure is left to the pipeline-lost path', async () => {
  const replies: StepReply[] = [];
  const downstream = new FakeDownstream();
  const d = new StepDispatcher({ step: new FakeForwardingStep(), downstream, onReply: (r) => replies.push(r), log: quietLogger() });
  downstream.connected = false;
  assert.equal(d.ready, false);
  await d.dispatch(request(3));
  assert.deepEqual(replies, [], 'the send failed, but the head fails every request at once when the stream breaks');
});

test('releases free the head\'s caches, then the later stages\' (only the head\'s while the stream is down)', async () => {
  const downstream = new FakeDownstream();
  const step = new FakeForwardingStep();
  const d = new StepDispatcher({ step, downstream, onReply: () => undefined, log: quietLogger() });
  await d.release(['a', 'b']);
  assert.deepEqual(step.released, ['a', 'b']);
  assert.deepEqual(downstream.released, [['a', 'b']]);
  downstream.connected = false;
  await d.release(['c']);
  await d.releaseLocal(['d']);
  assert.deepEqual(step.released, ['a', 'b', 'c', 'd']);
  assert.deepEqual(downstream.released, [['a', 'b']]);
});

test('a forwarding head without a next stage is refused at once', () => {
  assert.throws(() => new StepDispatcher({ step: new FakeForwardingStep(), downstream: null, onReply: () => undefined, log: quietLogger() }), /no next stage/);
});

test('the age of the oldest step awaiting its reply, for the per-step deadline', async () => {
  const downstream = new FakeDownstream();
  const d = new StepDispatcher({ step: new FakeForwardingStep(), downstream, onReply: () => undefined, log: quietLogger() });
  assert.equal(d.oldestInFlightMs(), 0, 'nothing in flight');
  const sent = performance.now();
  await d.dispatch(request(1));
  await d.dispatch(request(2));
  assert.ok(Math.abs(d.oldestInFlightMs(sent + 5000) - 5000) < 50, 'measured from when step 1 left');
  d.fromDownstream({ stepId: 1, results: [], timings: [] });
  d.fromDownstream({ stepId: 2, results: [], timings: [] });
  assert.equal(d.oldestInFlightMs(), 0, 'answered steps no longer count');
});
