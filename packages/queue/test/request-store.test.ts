// The Redis contract against a real Redis.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
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

test('create refuses a duplicate id; progress and finish keep text == concatenated deltas', async () => {
  const store = new RequestStore(redis, prefix());
  assert.equal(await store.create('r1', 5), true);
  assert.equal(await store.create('r1', 5), false);
  await store.start('r1');
  await store.progress([{ id: 'r1', delta: '你', text: '你', tokenIds: [7] }]);
  await store.progress([{ id: 'r1', delta: '', text: '你', tokenIds: [7, 8] }]); // held back: no event
  await store.finish({ id: 'r1', delta: '好', text: '你好', tokenIds: [7, 8, 9], finishReason: 'stop', promptTokens: 5 });
  const state = await store.read('r1');
  assert.equal(state?.status, 'finished');
  assert.equal(state?.text, '你好');
  assert.deepEqual(state?.tokenIds, [7, 8, 9]);
  assert.equal(state?.attempts, 1);
  const events = await store.readEvents('r1');
  assert.deepEqual(events.map((e) => e.type), ['delta', 'delta', 'final']);
  assert.equal(events.filter((e) => e.type === 'delta').map((e) => (e as { text: string }).text).join(''), state?.text);
  assert.equal((await store.readEvents('r1', events[0]!.id)).length, 2, 'reading after an id returns what follows it');
  assert.ok((await redis.ttl(store.keys.request('r1'))) > 0);
  assert.equal(await store.read('nope'), undefined);
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
    const params = { maxLength: 10, topP: 0.7, temperature: 0.95, topK: 50, repetitionPenalty: 1, doSample: true, seed: '1', stop: [] };
    await enqueueGenerate(queue, { requestId: 'j1', promptIds: [1], params, acceptedAt: Date.now() });
    await enqueueGenerate(queue, { requestId: 'j1', promptIds: [1], params, acceptedAt: Date.now() }); // same id: still one job
    assert.equal(await queuedJobs(queue), 1);
  } finally {
    await queue.close();
  }
});
