// The head's queue side against a real Redis and BullMQ: a cancellation is never lost, whenever it
// lands while a job is being taken.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { createLogger } from '@chatglm/common';
import { resolveSamplingParams, samplingParamsToJson } from '@chatglm/generation';
import { Cancellations, RedisKeys, RequestStore, closeRedis, connectRedis, createGenerateQueue, enqueueGenerate } from '@chatglm/queue';
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
