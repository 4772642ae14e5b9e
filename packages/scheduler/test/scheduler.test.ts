import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveSamplingParams, type SamplingParams } from '@chatglm/generation';
import { Scheduler, type SequenceUpdate, type Step } from '@chatglm/scheduler';

const EOP = 99;
// A toy tokenizer: token i is the letter 'a' + i % 26.
const text = { vocab: { vocabSize: 100, eopId: EOP, forcedTokenId: 0 }, decode: (ids: number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join(''), processResponse: (t: string) => t };

/** The context each request carries: here a tag naming it, so tests see it come back. */
type Tag = `ctx-${string}`;

function scheduler(maxRunning = 4, microBatches = 1, maxTokensPerSequence = 64): Scheduler<Tag> {
  return new Scheduler<Tag>({ maxRunning, maxTokensPerSequence, microBatches, text });
}

const request = (id: string, promptIds: number[], p: SamplingParams, resumeFrom?: number[]) => ({ id, promptIds, params: p, context: `ctx-${id}` as Tag, ...(resumeFrom && { resumeFrom }) });

const params = (over: Partial<SamplingParams> = {}) => resolveSamplingParams({ seed: 1, ...over });
const prompt = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Completes a step with token `t` for every sequence in it (logprob -0.5 each). */
function answer(s: Scheduler<Tag>, step: Step<Tag>, t: (seqId: string) => number): SequenceUpdate<Tag>[] {
  const ids = step.kind === 'prefill' ? [step.seqId] : step.entries.map((e) => e.seqId);
  return s.complete(step.id, ids.map((seqId) => ({ seqId, tokenId: t(seqId), logprob: -0.5 })));
}

test('admits up to maxRunning, prefills each, then decodes all running together', () => {
  const s = scheduler(3);
  for (const id of ['a', 'b', 'c', 'd']) assert.deepEqual(s.submit(request(id, prompt(4), params())), []);
  const prefills = s.schedule();
  assert.deepEqual(prefills.map((p) => p.kind), ['prefill', 'prefill', 'prefill']);
  assert.equal(s.stats().waiting, 1);
  assert.deepEqual(s.schedule(), [], 'nothing more while the prefills are in flight');
  for (const p of prefills) answer(s, p, () => 1);
  const [decode, ...rest] = s.schedule();
  assert.equal(rest.length, 0);
  assert.equal(decode?.kind, 'decode');
  if (decode?.kind !== 'decode') return;
  assert.deepEqual(decode.entries.map((e) => e.seqId), ['a', 'b', 'c']);
  assert.deepEqual(decode.entries[0], { seqId: 'a', tokenId: 1, index: 4, sampleIndex: 1, context: 'ctx-a' });
  assert.deepEqual(prefills.map((p) => (p.kind === 'prefill' ? p.context : '')), ['ctx-a', 'ctx-b', 'ctx-c'], 'each step carries its request\'s context');
  assert.equal(s.stats().maxBatchSize, 3);
});

test('a finished request frees its slot for a waiting one between decode steps (continuous batching)', () => {
  const s = scheduler(2);
  for (const id of ['a', 'b', 'c']) s.submit(request(id, prompt(3), params()));
  for (const p of s.schedule()) answer(s, p, () => 2);
  const [d1] = s.schedule();
  const updates = answer(s, d1!, (id) => (id === 'a' ? EOP : 3));
  const a = updates.find((u) => u.id === 'a');
  assert.deepEqual(a?.finish, { reason: 'stop', promptTokens: 3, release: true });
  assert.deepEqual(a?.tokenIds, [2, EOP]);
  assert.equal(a?.context, 'ctx-a');
  assert.deepEqual(a?.newTokens, [{ tokenId: EOP, logprob: -0.5 }], 'an update carries the token it adds, with its logprob');
  const next = s.schedule();
  assert.deepEqual(next.map((x) => x.kind), ['prefill', 'decode'], 'c is admitted while b keeps decoding');
  answer(s, next[0]!, () => 4);
  answer(s, next[1]!, () => 5);
  const [d3] = s.schedule();
  assert.ok(d3?.kind === 'decode' && d3.entries.map((e) => e.seqId).join() === 'b,c');
});

test('micro-batches split the running requests and keep that many steps in flight', () => {
  const s = scheduler(4, 2);
  for (const id of ['a', 'b', 'c', 'd']) s.submit(request(id, prompt(2), params()));
  for (const p of s.schedule()) answer(s, p, () => 1);
  const steps = s.schedule();
  assert.deepEqual(steps.map((x) => (x.kind === 'decode' ? x.entries.length : 0)), [2, 2]);
  assert.deepEqual(s.schedule(), []);
  answer(s, steps[0]!, () => 1);
  const again = s.schedule();
  assert.equal(again.length, 1, 'the first micro-batch goes again while the second is in flight');
  assert.deepEqual(s.stats().batchSizes, { 2: 3 });
});

test('length limits: max_length is total, max_new_tokens, and the cache capacity', () => {
  const s = scheduler(4, 1, 8);
  s.submit(request('total', prompt(5), params({ maxLength: 7 })));
  s.submit(request('new', prompt(2), params({ maxNewTokens: 1 })));
  s.submit(request('cache', prompt(6), params())); // max_length 2048 capped to 8
  const done = new Map<string, SequenceUpdate<Tag>>();
  for (let round = 0; round < 5; round++) for (const st of s.schedule()) for (const u of answer(s, st, () => 7)) if (u.finish) done.set(u.id, u);
  assert.equal(done.get('total')?.tokenIds.length, 2);
  assert.equal(done.get('new')?.tokenIds.length, 1);
  assert.equal(done.get('cache')?.tokenIds.length, 2);
  for (const u of done.values()) assert.equal(u.finish?.reason, 'length');
  const [tooLong] = s.submit(request('long', prompt(9), params()));
  assert.equal(tooLong?.finish?.reason, 'error');
  assert.equal(tooLong?.finish?.error?.code, 'context_length_exceeded');
});

test('cancel: waiting at once without release, between steps at once, in flight when the step returns', () => {
  const s = scheduler(1);
  s.submit(request('run', prompt(2), params()));
  s.submit(request('wait', prompt(2), params()));
  const [pre] = s.schedule();
  assert.deepEqual(s.cancel('wait').map((u) => u.finish), [{ reason: 'cancelled', promptTokens: 2, release: false }]);
  assert.deepEqual(s.cancel('run'), [], 'its prefill is in flight');
  const [u] = answer(s, pre!, () => 1);
  assert.deepEqual(u?.finish, { reason: 'cancelled', promptTokens: 2, release: true });
  assert.deepEqual(u?.tokenIds, [], 'the token of a cancelled step is dropped');
  assert.deepEqual(u?.newTokens, []);
  s.submit(request('x', prompt(2), params()));
  answer(s, s.schedule()[0]!, () => 1);
  assert.equal(s.cancel('x')[0]?.finish?.release, true);
  assert.deepEqual(s.cancel('unknown'), []);
  assert.equal(s.stats().running, 0);
});

test('stop strings cut the text and finish with "stop"; deltas concatenate to the text', () => {
  const s = scheduler();
  s.submit(request('r', prompt(2), params({ stop: ['cd'] })));
  let all = '';
  let last: SequenceUpdate<Tag> | undefined;
  const tokens = [0, 1, 2, 3, 4];
  for (let i = 0; i < tokens.length && !last?.finish; i++) {
    for (const st of s.schedule()) for (const u of answer(s, st, () => tokens[i]!)) ((all += u.delta), (last = u));
  }
  assert.equal(last?.finish?.reason, 'stop');
  assert.equal(last?.text, 'ab');
  assert.equal(all, 'ab');
});

test('a resumed request prefills prompt + resumed ids, samples from the right index, and does not repeat text', () => {
  const s = scheduler();
  s.submit(request('r', prompt(3), params(), [5, 6]));
  const [pre] = s.schedule();
  assert.ok(pre?.kind === 'prefill');
  if (pre?.kind !== 'prefill') return;
  assert.deepEqual(pre.tokenIds, [0, 1, 2, 5, 6]);
  assert.equal(pre.sampleIndex, 2);
  const [u] = answer(s, pre, () => EOP);
  assert.equal(u?.text, 'fg');
  assert.equal(u?.delta, '', 'the resumed text was already streamed by the earlier attempt');
  assert.deepEqual(u?.tokenIds, [5, 6, EOP]);
  const [done] = s.submit(request('d', prompt(3), params(), [5, EOP]));
  assert.equal(done?.finish?.reason, 'stop', 'a resumed reply that had ended finishes without a step');
});

test('a failed step fails its requests; failAll ends everything', () => {
  const s = scheduler(1);
  s.submit(request('a', prompt(2), params()));
  s.submit(request('b', prompt(2), params()));
  const [pre] = s.schedule();
  const failed = s.fail(pre!.id, { code: 'stage_crashed', message: 'x' });
  assert.deepEqual(failed.map((u) => [u.id, u.finish?.reason, u.finish?.error?.code]), [['a', 'error', 'stage_crashed']]);
  s.schedule();
  assert.deepEqual(s.failAll({ code: 'pipeline_lost', message: 'y' }).map((u) => u.id), ['b']);
  assert.deepEqual(s.stats(), { ...s.stats(), waiting: 0, running: 0, stepsInFlight: 0 });
  assert.throws(() => s.complete(pre!.id, []), /not in flight/);
});

test('duplicate ids are refused', () => {
  const s = scheduler();
  s.submit(request('a', prompt(2), params()));
  assert.throws(() => s.submit(request('a', prompt(2), params())), /already scheduled/);
});

test('with a KV page budget, requests claim the pages of what they cache: admitted with room for their prefill and one more position beside the running ones\' next positions', () => {
  // 10 pages of 4 positions, one sequence of 40 at most; a free slot for everyone, so pages alone decide.
  const s = new Scheduler<Tag>({ maxRunning: 8, maxTokensPerSequence: 40, text, kvPages: { pages: 10, pageSize: 4, prefixLength: 0 } });
  s.submit(request('a', prompt(6), params())); // 6 positions: 2 pages (7 fit in them too)
  s.submit(request('b', prompt(5), params())); // 2 pages
  s.submit(request('c', prompt(2), params())); // 1 page
  s.submit(request('d', prompt(20), params())); // 5 pages, 6 with its first decode: 5 + 6 > 10
  const first = s.schedule();
  assert.deepEqual(first.map((x) => (x.kind === 'prefill' ? x.seqId : x.kind)), ['a', 'b', 'c']);
  assert.deepEqual([s.stats().kvPagesClaimed, s.stats().kvPages, s.stats().waiting], [5, 10, 1]);
  // a ends after its first token: its 2 pages are free again, and d comes in.
  assert.equal(answer(s, first[0]!, () => EOP)[0]?.finish?.reason, 'stop');
  const next = s.schedule();
  assert.deepEqual(next.filter((x) => x.kind === 'prefill').map((x) => (x.kind === 'prefill' ? x.seqId : '')), ['d']);
  assert.equal(s.stats().kvPagesClaimed, 8);
});

test('with a KV page budget, a decode step short of pages with nothing in flight preempts the request admitted last: its cache is released, and it is prefilled again later with every token it generated', () => {
  const s = new Scheduler<Tag>({ maxRunning: 8, maxTokensPerSequence: 16, text, kvPages: { pages: 4, pageSize: 4, prefixLength: 0 } });
  s.submit(request('a', prompt(3), params({ maxNewTokens: 12 })));
  s.submit(request('b', prompt(3), params({ maxNewTokens: 12 })));
  let token = 1;
  for (const p of s.schedule()) answer(s, p, () => token++);
  // Each decode step adds a position: at 5 and at 9 both need a new page; at 9 there is none.
  let preempted: string[] = [];
  for (let step = 0; step < 6 && preempted.length === 0; step++) {
    const steps = s.schedule();
    preempted = s.takePreempted();
    for (const d of steps) answer(s, d, () => token++);
  }
  assert.deepEqual(preempted, ['b'], 'b, admitted last, gives way');
  assert.deepEqual([s.stats().waiting, s.stats().running, s.stats().preemptions], [1, 1, 1]);
  // a goes on alone; b, with its 6 tokens, needs 3 pages beside a's 3: it waits until a ends.
  const solo = s.schedule();
  assert.deepEqual(solo.map((x) => (x.kind === 'decode' ? x.entries.map((e) => e.seqId) : x.kind)), [['a']]);
  answer(s, solo[0]!, () => EOP);
  const [again] = s.schedule();
  assert.equal(again?.kind, 'prefill');
  if (again?.kind !== 'prefill') return;
  assert.equal(again.seqId, 'b');
  assert.equal(again.sampleIndex, 6, 'b goes on at its seventh token');
  assert.deepEqual(again.tokenIds.slice(0, 3), prompt(3));
  assert.equal(again.tokenIds.length, 3 + 6, 'the prompt and the 6 tokens b generated');
  assert.deepEqual(s.takePreempted(), []);
});

test('with a KV page budget, a request short of a page while a step is in flight waits for that step instead of preempting', () => {
  const s = new Scheduler<Tag>({ maxRunning: 8, maxTokensPerSequence: 8, microBatches: 2, text, kvPages: { pages: 2, pageSize: 4, prefixLength: 0 } });
  s.submit(request('a', prompt(3), params({ maxNewTokens: 4 })));
  s.submit(request('b', prompt(3), params({ maxNewTokens: 4 })));
  for (const p of s.schedule()) answer(s, p, () => 1);
  // Two micro-batches: a and b each in a step, at 4 positions (one page each).
  const [stepA, stepB] = s.schedule();
  answer(s, stepA!, () => 2);
  assert.deepEqual(s.schedule(), [], 'a needs a fifth position, a new page, and none is free while b\'s step is out');
  assert.deepEqual(s.takePreempted(), []);
  answer(s, stepB!, () => 2);
  const [alone] = s.schedule();
  assert.deepEqual(s.takePreempted(), ['b']);
  assert.deepEqual(alone?.kind === 'decode' ? alone.entries.map((e) => e.seqId) : [], ['a']);
});

test("with a KV page budget, a P-tuning prefix's part past whole pages counts in every request's first page, and a request larger than the budget fails at once", () => {
  const s = new Scheduler<Tag>({ maxRunning: 8, maxTokensPerSequence: 64, text, kvPages: { pages: 3, pageSize: 4, prefixLength: 6 } });
  // 6 positions of prefix: one whole shared page, 2 positions in each request's own first page.
  s.submit(request('a', prompt(4), params({ maxNewTokens: 6 }))); // 2 + 4 positions: 2 pages
  s.submit(request('b', prompt(1), params({ maxNewTokens: 1 }))); // 2 + 1: 1 page
  assert.deepEqual(s.schedule().map((x) => (x.kind === 'prefill' ? x.seqId : x.kind)), ['a', 'b']);
  assert.equal(s.stats().kvPagesClaimed, 3);
  const [tooLong] = s.submit(request('too-long', prompt(4), params({ maxNewTokens: 20 })));
  assert.equal(tooLong?.finish?.reason, 'error');
  assert.equal(tooLong?.finish?.error?.code, 'context_length_exceeded');
  assert.match(tooLong?.finish?.error?.message ?? '', /may take 7 KV cache pages but the pipeline's caches hold 3/);
});
