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
 * `redis`, except that right after the first cancellation check (EXISTS on the cancel key) it
 * cancels `id` and waits until the announcement has reached the head: the announcement lands
 * after the intake looked and before the head knows the request.
 */
function cancellingAfterFirstCheck(id: string, keys: RedisKeys, announced: Promise<void>): Redis {
  let fired = false;
  return new Proxy(redis, {
    get(target, prop) {
      if (prop === 'exists' && !fired) {
        return async (...args: Parameters<Redis['exists']>) => {
          const found = await target.exists(...args);
          fired = true;
          await new Cancellations(target, keys).cancel(id);
          await announced;
          return found;
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
  const intake = new JobIntake({ redis, prefix, pipelineId: 'p2', concurrency: 1, lockDurationMs: 1000, maxStalledCount: 0, submit: () => undefined, cancel: () => undefined, log: createLogger('head', {}, () => undefined) });
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

async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
