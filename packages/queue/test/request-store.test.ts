// The Redis contract against a real Redis.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { resolveSamplingParams, samplingParamsToJson } from '@chatglm/generation';
import { Cancellations, PipelineRegistry, RequestStore, closeRedis, connectRedis, createGenerateQueue, enqueueGenerate, queuedJobs, RedisKeys } from '@chatglm/queue';
import { startTestRedis, type TestRedis } from '../../../test/support/redis-server.ts';

let server: TestRedis;
let redis: Redis;
let n = 0;
const prefix = () => `t${process.pid}x${n++}`;

before(async () => {
  server = await startTestRedis();
  redis = connectRedis(server.url);
});
after(async () => {
  await closeRedis(redis);
  await server.stop();
});

/** One step's progress: `delta` and the tokens `ids` (logprob -0.25 each, one alternative). */
const step = (id: string, delta: string, ids: number[], completionTokens: number, withLogprobs = false) => ({
  id,
  delta,
  newTokens: ids.map((tokenId) => ({ tokenId, logprob: -0.25, topLogprobs: [{ tokenId: tokenId + 1, logprob: -1.5 }] })),
  completionTokens,
  withLogprobs,
});

test('create refuses a duplicate id; progress and finish keep text == concatenated deltas', async () => {
  const store = new RequestStore(redis, prefix());
  assert.equal(await store.create('r1', 5), true);
  assert.equal(await store.create('r1', 5), false);
  await store.claim('r1');
  await store.progress([step('r1', '你', [7], 1)]);
  await store.progress([step('r1', '', [8], 2)]); // held back: no event
  await store.finish({ ...step('r1', '好', [9], 3), finishReason: 'stop', promptTokens: 5 });
  const state = await store.read('r1');
  assert.equal(state?.status, 'finished');
  assert.equal(state?.text, '你好');
  assert.deepEqual(state?.tokenIds, [7, 8, 9]);
  assert.equal(state?.completionTokens, 3);
  assert.equal(state?.attempts, 1);
  const events = await store.readEvents('r1');
  assert.deepEqual(events.map((e) => e.type), ['delta', 'delta', 'final']);
  assert.equal(events.filter((e) => e.type === 'delta').map((e) => (e as { text: string }).text).join(''), state?.text);
  assert.equal((await store.readEvents('r1', events[0]!.id)).length, 2, 'reading after an id returns what follows it');
  for (const key of [store.keys.request('r1'), store.keys.text('r1'), store.keys.tokens('r1'), store.keys.events('r1')]) assert.ok((await redis.ttl(key)) > 0, `${key} expires`);
  assert.equal(await store.read('nope'), undefined);
});

test('with logprobs, every step with tokens streams them (even when its text is held back)', async () => {
  const store = new RequestStore(redis, prefix());
  await store.create('lp', 2);
  await store.progress([step('lp', '', [4], 1, true)]);
  await store.finish({ ...step('lp', 'ab', [5], 2, true), finishReason: 'length', promptTokens: 2 });
  const events = await store.readEvents('lp');
  assert.deepEqual(events.map((e) => (e.type === 'delta' ? [e.text, e.tokens] : [e.type])), [
    ['', [{ tokenId: 4, logprob: -0.25, top: [{ tokenId: 5, logprob: -1.5 }] }]],
    ['ab', [{ tokenId: 5, logprob: -0.25, top: [{ tokenId: 6, logprob: -1.5 }] }]],
    ['final'],
  ]);
});

test('a failure is stored with its code, message and whether a retry may succeed', async () => {
  const store = new RequestStore(redis, prefix());
  await store.create('f', 2);
  await store.fail('f', 'context_length_exceeded', 'too long');
  assert.deepEqual((await store.read('f'))?.error, { code: 'context_length_exceeded', message: 'too long', retryable: false });
  await store.create('g', 2);
  await store.fail('g', 'stage_unavailable', 'gone');
  const [event] = await store.readEvents('g');
  assert.deepEqual(event && { ...event, id: undefined }, { type: 'error', code: 'stage_unavailable', message: 'gone', retryable: true, id: undefined });
});

test('the bytes written to Redis per generated token stay small, and the same as a reply grows', async () => {
  const store = new RequestStore(redis, prefix());
  await store.create('long', 20);
  await store.claim('long');
  const inputBytes = async () => Number(/total_net_input_bytes:(\d+)/.exec(await redis.info('stats'))?.[1]);
  // The INFO call itself is input too; measure it so it can be taken out.
  const i0 = await inputBytes();
  const infoCost = (await inputBytes()) - i0;
  const bytesOfSteps = async (from: number, count: number) => {
    const before = await inputBytes();
    for (let n = from; n < from + count; n++) await store.progress([step('long', '字', [1000 + (n % 9000)], n + 1)]);
    return (await inputBytes()) - before - infoCost;
  };
  const early = await bytesOfSteps(0, 50);
  await bytesOfSteps(50, 1900);
  const late = await bytesOfSteps(1950, 50);
  console.log(`bytes written per token: ${early / 50} over tokens 1-50, ${late / 50} over tokens 1951-2000`);
  assert.ok(late <= early * 1.05, `a step writes ${late / 50} bytes at 2000 tokens but ${early / 50} at the start: writes must not grow with the reply`);
  // The script goes by its SHA (EVALSHA), not as its source (over 1 KB) with every step.
  assert.ok(late / 50 < 600, `a step sends ${late / 50} bytes: the fenced-write script's source is being sent each time`);
  assert.equal((await store.read('long'))?.text.length, 2000);
});

test('writes go on after Redis forgets its scripts (as after a restart)', async () => {
  const store = new RequestStore(redis, prefix());
  await store.create('r', 2);
  await store.claim('r', { attempt: 'a' });
  await store.progress([{ ...step('r', '你', [7], 1), attempt: 'a', seq: 1 }]);
  await redis.script('FLUSH');
  assert.deepEqual(await store.progress([{ ...step('r', '好', [8], 2), attempt: 'a', seq: 2 }]), []);
  assert.equal((await store.read('r'))?.text, '你好');
});

test('a blocking read wakes up on the next event', async () => {
  const store = new RequestStore(redis, prefix());
  await store.create('r', 1);
  const reader = redis.duplicate();
  try {
    const pending = store.readEvents('r', '0', 5000, reader);
    setTimeout(() => void store.fail('r', 'stage_crashed', 'boom'), 50);
    const [e] = await pending;
    assert.deepEqual({ type: e?.type, code: (e as { code?: string })?.code }, { type: 'error', code: 'stage_crashed' });
  } finally {
    reader.disconnect();
  }
});

test('cancellations reach subscribers and are remembered', async () => {
  const keys = new RedisKeys(prefix());
  const c = new Cancellations(redis, keys);
  const sub = redis.duplicate();
  const seen: string[] = [];
  const unsubscribe = await Cancellations.subscribe(sub, keys, (id) => seen.push(id));
  await c.cancel('abc');
  for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, ['abc']);
  assert.equal(await c.isCancelled('abc'), true);
  assert.equal(await c.isCancelled('other'), false);
  await unsubscribe();
  sub.disconnect();
});

test('pipeline heartbeats decide liveness; jobs are counted while queued', async () => {
  const keys = new RedisKeys(prefix());
  const reg = new PipelineRegistry(redis, keys, 50);
  assert.deepEqual(await reg.live(), []);
  await reg.beat('p0');
  assert.deepEqual(await reg.live(), ['p0']);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await reg.live(), [], 'a pipeline without a recent heartbeat is not live');
  const queue = createGenerateQueue(redis, keys.prefix);
  try {
    const params = samplingParamsToJson(resolveSamplingParams({ maxLength: 10, seed: 1 }));
    await enqueueGenerate(queue, { requestId: 'j1', promptIds: [1], params, acceptedAt: Date.now() });
    await enqueueGenerate(queue, { requestId: 'j1', promptIds: [1], params, acceptedAt: Date.now() }); // same id: still one job
    assert.equal(await queuedJobs(queue), 1);
  } finally {
    await queue.close();
  }
});

test('fencing: once a newer attempt claims a request, the older attempt can write nothing more', async () => {
  const store = new RequestStore(redis, prefix());
  await store.create('fenced', 3);
  assert.deepEqual(await store.claim('fenced', { pipelineId: 'p1', attempt: 'old' }), { tokenIds: [], cancelled: false });
  assert.deepEqual(await store.progress([{ ...step('fenced', 'a', [1], 1), attempt: 'old' }]), []);
  // The old attempt's lock lapsed (Redis paused, the head frozen) and another attempt took over.
  assert.deepEqual(await store.claim('fenced', { pipelineId: 'p2', attempt: 'new' }), { tokenIds: [1], cancelled: false }, 'the new attempt resumes from what the old one wrote');
  assert.deepEqual(await store.progress([{ ...step('fenced', 'X', [99], 2), attempt: 'old' }]), ['fenced'], 'the old attempt is refused');
  assert.equal(await store.finish({ ...step('fenced', 'Y', [98], 2), attempt: 'old', finishReason: 'stop', promptTokens: 3 }), false);
  assert.equal(await store.fail('fenced', 'stage_crashed', 'late', { attempt: 'old' }), false);
  assert.deepEqual(await store.progress([{ ...step('fenced', 'b', [2], 2), attempt: 'new' }]), []);
  assert.equal(await store.finish({ ...step('fenced', 'c', [3], 3), attempt: 'new', finishReason: 'stop', promptTokens: 3 }), true);
  const state = await store.read('fenced');
  assert.deepEqual({ text: state?.text, tokenIds: state?.tokenIds, status: state?.status, attempts: state?.attempts, servedBy: state?.servedBy }, { text: 'abc', tokenIds: [1, 2, 3], status: 'finished', attempts: 2, servedBy: 'p2' });
  const deltas = (await store.readEvents('fenced')).flatMap((e) => (e.type === 'delta' ? [e.text] : []));
  assert.deepEqual(deltas, ['a', 'b', 'c'], 'nothing of the old attempt reached the stream after the new one claimed');
  // A write in one batch is refused for its own request only.
  await store.create('other', 1);
  await store.claim('other', { attempt: 'o1' });
  assert.deepEqual(await store.progress([{ ...step('other', 'z', [5], 1), attempt: 'o1' }, { ...step('fenced', 'W', [6], 4), attempt: 'old' }]), ['fenced']);
  assert.equal((await store.read('other'))?.text, 'z');
  // An ended request cannot be claimed again.
  assert.equal(await store.claim('fenced', { attempt: 'third' }), undefined);
  assert.equal(await store.claim('missing', { attempt: 'x' }), undefined);
});

test('a request its client cancelled is not claimed: the claim says so (with the tokens written so far) in its one round trip', async () => {
  const p = prefix();
  const store = new RequestStore(redis, p);
  await store.create('gone', 3);
  await store.claim('gone', { pipelineId: 'p1', attempt: 'first' });
  await store.progress([{ ...step('gone', 'a', [7], 1), attempt: 'first' }]);
  await new Cancellations(redis, new RedisKeys(p)).cancel('gone');
  assert.deepEqual(await store.claim('gone', { pipelineId: 'p2', attempt: 'second' }), { tokenIds: [7], cancelled: true });
  const state = await store.read('gone');
  assert.deepEqual({ servedBy: state?.servedBy, attempts: state?.attempts }, { servedBy: 'p1', attempts: 1 }, 'the record still names the first attempt');
});

test('a numbered write sent again (Redis died before its reply; ioredis resends) is applied once', async () => {
  const store = new RequestStore(redis, prefix());
  await store.create('resent', 2);
  await store.claim('resent', { attempt: 'a' });
  const first = { ...step('resent', 'x', [1], 1), attempt: 'a', seq: 1 };
  assert.deepEqual(await store.progress([first]), []);
  assert.deepEqual(await store.progress([first]), [], 'the same write again: skipped, not refused');
  assert.deepEqual(await store.progress([{ ...step('resent', 'y', [2], 2), attempt: 'a', seq: 2 }]), []);
  assert.equal(await store.finish({ ...step('resent', '', [], 2), attempt: 'a', seq: 3, finishReason: 'stop', promptTokens: 2 }), true);
  const state = await store.read('resent');
  assert.deepEqual({ text: state?.text, tokenIds: state?.tokenIds }, { text: 'xy', tokenIds: [1, 2] });
  assert.deepEqual((await store.readEvents('resent')).map((e) => e.type), ['delta', 'delta', 'final']);
  // A new attempt numbers its writes from 1 again.
  await store.create('again', 2);
  await store.claim('again', { attempt: 'b1' });
  await store.progress([{ ...step('again', 'p', [1], 1), attempt: 'b1', seq: 1 }]);
  await store.claim('again', { attempt: 'b2' });
  assert.deepEqual(await store.progress([{ ...step('again', 'q', [2], 2), attempt: 'b2', seq: 1 }]), []);
  assert.equal((await store.read('again'))?.text, 'pq');
});
