// The head's queue side against a real Redis and BullMQ: a cancellation is never lost, whenever it
// lands while a job is being taken.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { createLogger } from '@chatglm/common';
import { resolveSamplingParams, samplingParamsToJson } from '@chatglm/generation';
import { Cancellations, GENERATE_QUEUE, RedisKeys, RequestStore, closeRedis, connectRedis, createGenerateQueue, enqueueGenerate } from '@chatglm/queue';
import { Worker } from 'bullmq';
import { startTestRedis, type TestRedis } from '../../../../test/support/redis-server.ts';
import { JobIntake } from '../../src/head/job-intake.ts';
import type { HeadJob } from '../../src/head/pipeline-head.ts';

let server: TestRedis;
let redis: Redis;

before(async () => {
  server = await startTestRedis();
  redis = connectRedis(server.url);
});
after(async () => {
  await closeRedis(redis);
  await server.stop();
});

/**
 * `redis`, except that right after the intake's first look at the cancel key of `id` (its claim,
 * a script that reads the key) it cancels `id` and waits until the announcement has reached the
 * head: the announcement lands after the intake looked and before the head knows the request.
 */
function cancellingAfterFirstCheck(id: string, keys: RedisKeys, announced: Promise<void>): Redis {
  let fired = false;
  return new Proxy(redis, {
    get(target, prop) {
      if ((prop === 'evalsha' || prop === 'eval') && !fired) {
        return async (...args: unknown[]) => {
          const result = await (Reflect.get(target, prop, target) as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (!args.includes(keys.cancel(id))) return result;
          fired = true;
          await new Cancellations(target, keys).cancel(id);
          await announced;
          return result;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

test('a cancellation announced after the intake checked, but before the head knew the request, still stops it', async () => {
  const prefix = `t${process.pid}intake`;
  const keys = new RedisKeys(prefix);
  const id = 'raced';
  const running = new Map<string, HeadJob>();
  const cancelledRunning: string[] = [];
  let announce!: () => void;
  const announced = new Promise<void>((resolve) => (announce = resolve));
  const intake = new JobIntake({
    redis: cancellingAfterFirstCheck(id, keys, announced),
    prefix,
    pipelineId: 'p1',
    concurrency: 1,
    lockDurationMs: 30_000,
    maxStalledCount: 1,
    // A head in miniature: it knows a request once submitted, and ignores cancels of others.
    submit: (job) => running.set(job.id, job),
    cancel: (requestId) => {
      const job = running.get(requestId);
      if (requestId === id) announce();
      if (!job) return;
      cancelledRunning.push(requestId);
      running.delete(requestId);
      job.handle.done();
    },
    abandon: () => undefined,
    log: createLogger('test', {}, () => undefined),
  });
  await intake.start();
  const queueConnection = redis.duplicate();
  const queue = createGenerateQueue(queueConnection, prefix);
  try {
    const store = new RequestStore(redis, prefix);
    await store.create(id, 3);
    await enqueueGenerate(queue, { requestId: id, promptIds: [5, 6, 7], params: samplingParamsToJson(resolveSamplingParams({ maxLength: 10, seed: 1 })), acceptedAt: Date.now() });
    const deadline = Date.now() + 10_000;
    while (cancelledRunning.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(cancelledRunning, [id], 'the head was told to cancel the request it was given');
    assert.equal(running.size, 0);
  } finally {
    for (const job of running.values()) job.handle.done(); // close() waits for running jobs
    await intake.close();
    await queue.close();
    await closeRedis(queueConnection);
  }
});

test('a request cancelled before its job was taken is finished as cancelled, and never reaches the head', async () => {
  const prefix = `t${process.pid}early`;
  const keys = new RedisKeys(prefix);
  const store = new RequestStore(redis, prefix);
  const queue = createGenerateQueue(redis, prefix);
  const id = 'cancelled-early';
  await store.create(id, 2, Date.now());
  await new Cancellations(redis, keys).cancel(id);
  await enqueueGenerate(queue, { requestId: id, promptIds: [5, 6], params: samplingParamsToJson(resolveSamplingParams({ maxLength: 10, seed: 1 })), acceptedAt: Date.now() });
  const submitted: string[] = [];
  const intake = new JobIntake({ redis, prefix, pipelineId: 'p3', concurrency: 1, lockDurationMs: 30_000, maxStalledCount: 1, submit: (job) => submitted.push(job.id), cancel: () => undefined, abandon: () => undefined, log: createLogger('head', {}, () => undefined) });
  await intake.start();
  try {
    await waitUntil(async () => (await store.read(id))?.status === 'finished', 10_000);
    const state = await store.read(id);
    assert.deepEqual({ finishReason: state?.finishReason, attempts: state?.attempts }, { finishReason: 'cancelled', attempts: 0 }, 'not claimed: no attempt counted');
    assert.deepEqual(submitted, []);
  } finally {
    await intake.close();
    await queue.close();
  }
});

test('a job BullMQ fails for stalling too often is recorded as failed, so its clients get an error at once', async () => {
  const prefix = `t${process.pid}stall`;
  const store = new RequestStore(redis, prefix);
  const queue = createGenerateQueue(redis, prefix);
  const id = 'stalled-out';
  await store.create(id, 1, Date.now());
  await enqueueGenerate(queue, { requestId: id, promptIds: [5, 6], params: samplingParamsToJson(resolveSamplingParams({ maxLength: 10, seed: 1 })), acceptedAt: Date.now() });
  // A head that takes the job and dies without a word: its lock runs out with the job still active.
  // (It looks for stalled jobs itself never, since a look blocks other heads' looks for an interval.)
  const deadConnection = redis.duplicate();
  const dead = new Worker(GENERATE_QUEUE, () => new Promise<void>(() => undefined), { connection: deadConnection, prefix, lockDuration: 1000, skipStalledCheck: true });
  await waitUntil(async () => (await queue.getJobState(id)) === 'active', 5000);
  await dead.close(true);
  deadConnection.disconnect();
  // The next head finds it stalled; with no stall allowed, BullMQ fails it for good.
  const intake = new JobIntake({ redis, prefix, pipelineId: 'p2', concurrency: 1, lockDurationMs: 1000, maxStalledCount: 0, submit: () => undefined, cancel: () => undefined, abandon: () => undefined, log: createLogger('head', {}, () => undefined) });
  await intake.start();
  try {
    await waitUntil(async () => (await store.read(id))?.status === 'failed', 10_000);
    const state = await store.read(id);
    assert.equal(state?.error?.code, 'job_failed');
    assert.match(state?.error?.message ?? '', /stalled/);
  } finally {
    await intake.close();
    await queue.close();
  }
});

test('an attempt whose lock lapses is abandoned; a job handed back runs again without using an attempt', async () => {
  const prefix = `t${process.pid}lock`;
  const store = new RequestStore(redis, prefix);
  const queue = createGenerateQueue(redis, prefix);
  const keys = new RedisKeys(prefix);
  const taken: HeadJob[] = [];
  const abandoned: { id: string; attempt: string }[] = [];
  const intake = new JobIntake({
    redis,
    prefix,
    pipelineId: 'p1',
    concurrency: 2,
    lockDurationMs: 1000,
    maxStalledCount: 3,
    submit: (job) => taken.push(job),
    cancel: () => undefined,
    abandon: (id, attempt) => abandoned.push({ id, attempt }),
    log: createLogger('head', {}, () => undefined),
  });
  await intake.start();
  try {
    for (const id of ['lapsed', 'handed']) {
      await store.create(id, 2, Date.now());
      await enqueueGenerate(queue, { requestId: id, promptIds: [5, 6], params: samplingParamsToJson(resolveSamplingParams({ maxLength: 10, seed: 1 })), acceptedAt: Date.now() });
    }
    await waitUntil(async () => taken.length === 2, 5000);
    const lapsed = taken.find((j) => j.id === 'lapsed')!;
    const handed = taken.find((j) => j.id === 'handed')!;
    assert.notEqual(lapsed.handle.attempt, handed.handle.attempt, 'every attempt has a token of its own');
    assert.equal((await redis.hget(keys.request('lapsed'), 'attempt')), lapsed.handle.attempt, 'the attempt claimed the request with its token');
    // The lock vanishes, as when Redis or this head was paused for longer than it lasts.
    await redis.del(`${prefix}:generate:lapsed:lock`);
    await waitUntil(async () => abandoned.length > 0, 5000);
    assert.deepEqual(abandoned[0], { id: 'lapsed', attempt: lapsed.handle.attempt });
    lapsed.handle.abandon();
    // The head stops: it hands its job back; the queue gives it out again with no attempt used.
    handed.handle.handBack();
    await waitUntil(async () => taken.filter((j) => j.id === 'handed').length === 2, 5000);
    const again = taken.filter((j) => j.id === 'handed')[1]!;
    assert.equal(again.handle.attemptsBefore, 0, 'a hand-back uses no attempt');
    assert.notEqual(again.handle.attempt, handed.handle.attempt);
    again.handle.done();
    await waitUntil(async () => (await queue.getJobState('handed')) === 'completed', 5000);
    // The lapsed job is found stalled and given out again, to a new attempt.
    await waitUntil(async () => taken.filter((j) => j.id === 'lapsed').length === 2, 10_000);
    const retaken = taken.filter((j) => j.id === 'lapsed')[1]!;
    assert.equal(await redis.hget(keys.request('lapsed'), 'attempt'), retaken.handle.attempt);
    retaken.handle.done();
  } finally {
    for (const job of taken) job.handle.done(); // close() waits for running jobs; settled ones ignore it
    await intake.close();
    await queue.close();
  }
});

test("a head that starts under a dead head's pipeline id takes its jobs back at once, not when their locks lapse; another pipeline's jobs stay", async () => {
  const prefix = `t${process.pid}predecessor`;
  const store = new RequestStore(redis, prefix);
  const queue = createGenerateQueue(redis, prefix);
  for (const id of ['mine', 'theirs']) {
    await store.create(id, 2, Date.now());
    await enqueueGenerate(queue, { requestId: id, promptIds: [5, 6], params: samplingParamsToJson(resolveSamplingParams({ maxLength: 10, seed: 1 })), acceptedAt: Date.now() });
  }
  // Heads that took the jobs and died: pipeline p's head held 'mine', pipeline q's 'theirs', each
  // with a lock that lasts a minute more.
  const deadConnection = redis.duplicate();
  const dead = new Worker(GENERATE_QUEUE, () => new Promise<void>(() => undefined), { connection: deadConnection, prefix, concurrency: 2, lockDuration: 60_000, skipStalledCheck: true });
  await waitUntil(async () => (await queue.getActiveCount()) === 2, 5000);
  assert.ok(await store.claim('mine', { pipelineId: 'p', attempt: 'old-p' }));
  assert.ok(await store.claim('theirs', { pipelineId: 'q', attempt: 'old-q' }));
  await dead.close(true);
  deadConnection.disconnect();

  const taken: HeadJob[] = [];
  const intake = new JobIntake({ redis, prefix, pipelineId: 'p', concurrency: 2, lockDurationMs: 60_000, maxStalledCount: 1, submit: (job) => taken.push(job), cancel: () => undefined, abandon: () => undefined, log: createLogger('head', {}, () => undefined) });
  const startedAt = Date.now();
  await intake.start();
  try {
    await waitUntil(async () => taken.length > 0, 5000);
    assert.deepEqual(taken.map((j) => j.id), ['mine'], "pipeline p's restarted head took its predecessor's job");
    assert.ok(Date.now() - startedAt < 5000, 'long before the lock would have lapsed');
    assert.equal(taken[0]!.handle.attemptsBefore, 0, 'taking a job back uses no attempt');
    assert.equal((await store.read('mine'))?.servedBy, 'p');
    // Pipeline q's job stays with its head (for all this head knows, alive) until its lock lapses.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(taken.map((j) => j.id), ['mine']);
    assert.equal(await queue.getJobState('theirs'), 'active');
  } finally {
    for (const job of taken) job.handle.done();
    await intake.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
});

async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
