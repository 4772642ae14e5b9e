// The head's loop with fakes around it (a scripted last stage, a recording store, recording job
// handles): requests run to their end, their writes are ordered, and every way a request can end
// settles its job the right way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatGlmError } from '@chatglm/common';
import { resolveSamplingParams, type SamplingParams } from '@chatglm/generation';
import type { StepRequest } from '@chatglm/protocol';
import { PipelineHead, type StepReport } from '../../src/head/pipeline-head.ts';
import { RequestWriter } from '../../src/head/request-writer.ts';
import { StepDispatcher } from '../../src/head/step-dispatcher.ts';
import { EOP, FakeDownstream, FakeForwardingStep, FakeJob, FakeSamplingStep, FakeSink, MARKERS, TEXT, prompt, quietLogger, until } from '../support/head-fakes.ts';

interface Rig {
  head: PipelineHead;
  sink: FakeSink;
  reports: StepReport[];
}

/** A head whose own stage samples (it holds every layer); `next` scripts the tokens. */
function headAlone(step: FakeSamplingStep, maxRunning = 4, maxTokensPerSequence = 64): Rig {
  const sink = new FakeSink();
  const log = quietLogger();
  const reports: StepReport[] = [];
  let head: PipelineHead | undefined;
  const dispatcher = new StepDispatcher({ step, downstream: null, onReply: (r) => head?.onReply(r), log });
  head = new PipelineHead({ scheduler: { maxRunning, maxTokensPerSequence, text: TEXT }, markers: MARKERS, dispatcher, writer: new RequestWriter(sink, log), log, onStep: (r) => reports.push(r) });
  return { head, sink, reports };
}

const params = (over: Partial<SamplingParams> = {}) => resolveSamplingParams({ seed: 1, ...over });
const job = (id: string, handle: FakeJob, over: { params?: SamplingParams; resumeFrom?: number[]; logprobs?: number; promptIds?: number[] } = {}) => ({
  id,
  promptIds: over.promptIds ?? prompt(3),
  params: over.params ?? params(),
  resumeFrom: over.resumeFrom ?? [],
  logprobs: over.logprobs,
  handle,
});

test('requests run to <eop>: text and tokens are written in order, then the finish, then the job is done', async () => {
  // Each sequence's token k is 2 + k until k = 3, then <eop>.
  const step = new FakeSamplingStep((_, k) => (k < 3 ? 2 + k : EOP));
  const { head, sink, reports } = headAlone(step);
  const a = new FakeJob();
  const b = new FakeJob();
  head.submit(job('a', a));
  head.submit(job('b', b, { logprobs: 2 }));
  await Promise.all([a.settledOnce, b.settledOnce]);
  assert.deepEqual(a.settled, { how: 'done' });
  assert.deepEqual(b.settled, { how: 'done' });
  assert.equal(sink.textOf('a'), 'cde');
  const finishA = sink.writes.find((w) => w.kind === 'finish' && w.outcome.id === 'a');
  assert.ok(finishA?.kind === 'finish');
  assert.deepEqual({ reason: finishA.outcome.finishReason, tokens: finishA.outcome.completionTokens, prompt: finishA.outcome.promptTokens }, { reason: 'stop', tokens: 4, prompt: 5 });
  assert.equal(sink.writes.findIndex((w) => w.kind === 'finish' && w.outcome.id === 'a'), sink.writes.findLastIndex((w) => (w.kind === 'progress' && w.updates.some((u) => u.id === 'a')) || (w.kind === 'finish' && w.outcome.id === 'a')), 'nothing of a is written after its finish');
  const bTokens = sink.writes.flatMap((w) => (w.kind === 'progress' ? w.updates : w.kind === 'finish' ? [w.outcome] : [])).filter((u) => u.id === 'b');
  assert.ok(bTokens.every((u) => u.withLogprobs), 'a request that asked for logprobs has them written');
  assert.ok(bTokens.flatMap((u) => u.newTokens).every((t) => t.logprob === -0.5));
  assert.deepEqual(step.released.sort(), ['a', 'b'], 'ended sequences free their caches');
  assert.ok(reports.length > 0 && reports.every((r) => r.timings.length === 1), 'each step reports its per-stage timings');
  // The two requests decoded together: some step carried both.
  assert.ok(step.steps.some((s) => s.entries.length === 2), 'continuous batching put both in one decode step');
});

test('a cancelled request finishes "cancelled" with its text so far', async () => {
  const step = new FakeSamplingStep(() => 3);
  const { head, sink } = headAlone(step);
  const j = new FakeJob();
  head.submit(job('c', j, { params: params({ maxNewTokens: 10_000, maxLength: 60 }) }));
  await until(() => sink.textOf('c').length >= 3, 2000, 'some text');
  head.cancel('c');
  await j.settledOnce;
  const finish = sink.writes.find((w) => w.kind === 'finish');
  assert.ok(finish?.kind === 'finish' && finish.outcome.finishReason === 'cancelled');
  head.cancel('unknown'); // ignored
});

test('a step that fails with a retryable code hands the job back after its writes; nothing is recorded', async () => {
  const step = new FakeSamplingStep(() => 4);
  const { head, sink } = headAlone(step);
  step.failWith = new ChatGlmError('kv_capacity', 'no slot');
  const j = new FakeJob(0, 3);
  head.submit(job('r', j));
  await j.settledOnce;
  assert.deepEqual(j.settled, { how: 'retry', failure: { code: 'kv_capacity', message: 'no slot' } });
  assert.equal(sink.writes.filter((w) => w.kind === 'fail').length, 0);
  // On its last attempt the same failure is recorded.
  const last = new FakeJob(2, 3);
  head.submit(job('r', last));
  await last.settledOnce;
  assert.equal(last.settled?.how, 'fail');
  assert.deepEqual(sink.writes.at(-1), { kind: 'fail', id: 'r', code: 'kv_capacity', message: 'no slot' });
});

test('a request the pipeline cannot hold fails for good with context_length_exceeded', async () => {
  const { head, sink } = headAlone(new FakeSamplingStep(), 4, 8);
  const j = new FakeJob();
  head.submit(job('long', j, { promptIds: prompt(10) }));
  await j.settledOnce;
  assert.equal(j.settled?.how, 'fail');
  assert.deepEqual(sink.writes.map((w) => (w.kind === 'fail' ? [w.kind, w.code] : [w.kind])), [['fail', 'context_length_exceeded']]);
});

test('a prompt without [gMASK] or <sop> fails for good with invalid_prompt', async () => {
  const { head, sink } = headAlone(new FakeSamplingStep());
  const j = new FakeJob();
  head.submit(job('bad', j, { promptIds: [1, 2, 3] }));
  await j.settledOnce;
  assert.equal(j.settled?.how, 'fail');
  assert.equal(sink.writes[0]?.kind === 'fail' && sink.writes[0].code, 'invalid_prompt');
});

test('a resumed request prefills its streamed tokens too and samples from where it stopped', async () => {
  const step = new FakeSamplingStep(() => EOP);
  const { head, sink } = headAlone(step);
  const j = new FakeJob(1);
  head.submit(job('again', j, { resumeFrom: [5, 6] }));
  await j.settledOnce;
  const [prefill] = step.steps;
  assert.deepEqual(prefill?.entries[0]?.tokenIds, [...prompt(3), 5, 6]);
  assert.equal(prefill?.entries[0]?.sampleIndex, 2);
  assert.equal(sink.textOf('again'), '', 'the resumed text was streamed by the earlier attempt');
});

test('a broken pipeline ends every request: retryable ones go back to the queue; the head frees its caches', async () => {
  const sink = new FakeSink();
  const log = quietLogger();
  const downstream = new FakeDownstream();
  const own = new FakeForwardingStep();
  let head: PipelineHead | undefined;
  const dispatcher = new StepDispatcher({ step: own, downstream, onReply: (r) => head?.onReply(r), log });
  head = new PipelineHead({ scheduler: { maxRunning: 1, maxTokensPerSequence: 64, text: TEXT }, markers: MARKERS, dispatcher, writer: new RequestWriter(sink, log), log });
  const running = new FakeJob();
  const waiting = new FakeJob();
  head.submit(job('running', running));
  head.submit(job('waiting', waiting));
  await until(() => downstream.sent.length === 1, 2000, 'the prefill to go down');
  const sent = downstream.sent[0] as StepRequest;
  downstream.connected = false;
  head.onPipelineLost(new Error('stage 1 died'));
  await Promise.all([running.settledOnce, waiting.settledOnce]);
  assert.deepEqual(running.settled, { how: 'retry', failure: { code: 'pipeline_lost', message: 'the pipeline broke: stage 1 died' } });
  assert.equal(waiting.settled?.how, 'retry');
  await until(() => own.released.length === 2, 2000, 'local releases');
  assert.deepEqual(own.released.sort(), ['running', 'waiting']);
  // A late reply for a step of the broken pipeline is ignored.
  head.onReply({ stepId: sent.stepId, results: [{ seqId: 'running', tokenId: 1, logprob: 0 }], timings: [] });
  assert.equal(sink.writes.length, 0);
});

/** A head alone with one long request `id` running, some of its text written. */
async function runningRequest(id: string): Promise<Rig & { step: FakeSamplingStep; job: FakeJob }> {
  const step = new FakeSamplingStep(() => 2);
  const rig = headAlone(step, 4, 64);
  const handle = new FakeJob();
  rig.head.submit(job(id, handle, { params: params({ maxLength: 60 }) }));
  await until(() => rig.sink.textOf(id).length >= 2, 2000, 'some progress');
  return { ...rig, step, job: handle };
}

test('a stopping head hands every request back once its progress is written, and takes no more', async () => {
  const { step, head, sink, job: running } = await runningRequest('running');
  head.handBackAll();
  await running.settledOnce;
  assert.deepEqual(running.settled, { how: 'handBack' });
  const late = new FakeJob();
  head.submit(job('late', late));
  assert.deepEqual(late.settled, { how: 'handBack' }, 'a job taken while stopping goes straight back');
  assert.equal(sink.writes.filter((w) => w.kind !== 'progress').length, 0, 'nothing recorded as finished or failed');
  assert.deepEqual(step.released, ['running']);
});

test('an attempt whose writes are refused (a newer attempt claimed the request) ends without another write', async () => {
  const { step, head, sink, job: old } = await runningRequest('r');
  sink.refused.add('r');
  await old.settledOnce;
  assert.deepEqual(old.settled, { how: 'abandon' });
  assert.deepEqual(step.released, ['r'], 'its cache is freed');
  const writes = sink.writes.length;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sink.writes.length, writes, 'nothing more is written for it');
});

test('a newer attempt arriving while the old one runs here ends the old one, then runs from what was written', async () => {
  const { step, head, sink, job: old } = await runningRequest('r');
  const newer = new FakeJob(0, 3);
  head.submit(job('r', newer, { params: params({ maxLength: 12 }), resumeFrom: [2, 2] }));
  await old.settledOnce;
  assert.deepEqual(old.settled, { how: 'abandon' });
  await newer.settledOnce;
  assert.deepEqual(newer.settled, { how: 'done' });
  const finish = sink.writes.find((w) => w.kind === 'finish');
  assert.ok(finish?.kind === 'finish');
  assert.equal(finish.outcome.attempt, newer.attempt, 'the finish is the newer attempt\'s');
  assert.ok(sink.writes.every((w) => w.kind !== 'progress' || w.updates.every((u) => u.attempt === old.attempt || u.attempt === newer.attempt)));
  const lastOld = sink.writes.findLastIndex((w) => w.kind === 'progress' && w.updates.some((u) => u.attempt === old.attempt));
  const firstNew = sink.writes.findIndex((w) => (w.kind === 'progress' && w.updates.some((u) => u.attempt === newer.attempt)) || w.kind === 'finish');
  assert.ok(lastOld < firstNew, 'no write of the old attempt after the newer one began');
});
