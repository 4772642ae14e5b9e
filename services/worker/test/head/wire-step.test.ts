// Scheduler steps become wire steps with each sequence's GLM positions and, for a prefill, the
// parameters the last stage samples with.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveSamplingParams } from '@chatglm/generation';
import { SequencePositions } from '@chatglm/glm';
import { toStepRequest } from '../../src/head/wire-step.ts';
import { FakeJob, MARKERS, prompt } from '../support/head-fakes.ts';

test('a prefill carries 2-D positions, the context length, the seed as decimal text and the logprobs asked for', () => {
  const promptIds = prompt(3); // a b c [gMASK] <sop>
  const positions = SequencePositions.of(promptIds, MARKERS);
  const params = resolveSamplingParams({ seed: 2n ** 64n - 1n, temperature: 0.5, topK: 7 });
  const request = toStepRequest({ id: 4, kind: 'prefill', seqId: 'r', tokenIds: [...promptIds, 7], params, sampleIndex: 1, context: { positions, job: new FakeJob(), logprobs: 3 } });
  assert.equal(request.stepId, 4);
  const [e] = request.entries;
  assert.equal(e?.phase, 'PHASE_PREFILL');
  assert.deepEqual(e?.positions, [0, 1, 2, 3, 3, 3], 'text and [gMASK] count up; <sop> and later keep the [gMASK] position');
  assert.deepEqual(e?.blockPositions, [0, 0, 0, 0, 1, 2]);
  assert.equal(e?.contextLength, 4);
  assert.equal(e?.sampleIndex, 1);
  assert.deepEqual(e?.sampling, { doSample: true, temperature: 0.5, topP: 0.7, topK: 7, repetitionPenalty: 1, seed: '18446744073709551615', topLogprobs: 3, omitLogprob: false });
});

test('a decode entry carries the positions of its token index; no logprobs asked means 0 alternatives and no logprob', () => {
  const positions = SequencePositions.of(prompt(2), MARKERS);
  const context = { positions, job: new FakeJob(), logprobs: undefined };
  const request = toStepRequest({ id: 9, kind: 'decode', entries: [{ seqId: 'r', tokenId: 42, index: 6, sampleIndex: 3, context }] });
  assert.deepEqual(request.entries.map((e) => [e.phase, e.tokenIds, e.positions, e.blockPositions, e.sampleIndex]), [['PHASE_DECODE', [42], [2], [4], 3]]);
  const prefill = toStepRequest({ id: 1, kind: 'prefill', seqId: 'r', tokenIds: prompt(2), params: resolveSamplingParams(), sampleIndex: 0, context });
  assert.equal(prefill.entries[0]?.sampling?.topLogprobs, 0);
  assert.equal(prefill.entries[0]?.sampling?.omitLogprob, true);
});
