// A whole local cluster for integration tests: real redis-server (or testcontainers / REDIS_URL),
// real gateway and stage worker processes on free ports, a generated tiny model. Child output is
// kept in memory and printed when a test fails.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { PipelineRegistry, RequestStore, closeRedis, connectRedis } from '@chatglm/queue';
import { writeTinyModel, type TinyModelReplies } from '../../services/cli/src/default-model.ts';
import { LocalCluster } from '../../services/cli/src/up/local-cluster.ts';
import { freePort, startTestRedis, type TestRedis } from './redis-server.ts';

export interface TestClusterOptions {
  stages?: number;
  pipelines?: number;
  /** How the tiny model's replies end (see writeTinyModel; default 'short'). */
  replies?: TinyModelReplies;
  maxSequences?: number;
  workerArgs?: string[];
  /**
   * Let the launcher start its own redis-server (password, append-only file, memory bound, restarted
   * when it dies) as `chatglm up` does, instead of the tests' shared one: for tests that kill Redis.
   */
  launcherRedis?: boolean;
}

export interface TestCluster {
  url: string;
  modelDir: string;
  prefix: string;
  redis: Redis;
  store: RequestStore;
  registry: PipelineRegistry;
  cluster: LocalCluster;
  /** Everything the children printed, for failure messages. */
  logs: string[];
  stop(): Promise<void>;
}

let counter = 0;

export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-cluster-test-'));
  const modelDir = path.join(dir, 'model');
  fs.mkdirSync(modelDir);
  await writeTinyModel(modelDir, { replies: options.replies ?? 'short' });
  // The workers convert the checkpoint into bundles on first start: keep them out of ~/.cache.
  process.env.CHATGLM_CACHE_DIR = path.join(dir, 'cache');
  const redisServer: TestRedis | undefined = options.launcherRedis ? undefined : await startTestRedis();
  const prefix = `it${process.pid}n${counter++}`;
  const logs: string[] = [];
  const cluster = new LocalCluster({
    modelDir,
    stages: options.stages ?? 2,
    pipelines: options.pipelines ?? 1,
    port: 0,
    host: '127.0.0.1',
    ...(redisServer ? { redisUrl: redisServer.url } : { redisPort: await freePort(), redisDir: path.join(dir, 'redis') }),
    redisPrefix: prefix,
    maxSequences: options.maxSequences ?? 16,
    // As stages on machines of their own run (a micro-batch per stage in flight), not one at a time
    // as the launcher runs stages that share one machine's cores: the harder path for the head.
    microBatches: options.stages ?? 2,
    threads: 1,
    workerArgs: options.workerArgs ?? [],
    onLine: (name, _stream, line) => logs.push(`[${name}] ${line}`),
    onEvent: (message) => logs.push(`[launcher] ${message}`),
  });
  try {
    await cluster.start();
  } catch (err) {
    console.log(logs.slice(-60).join('\n'));
    await redisServer?.stop();
    throw err;
  }
  const redis = connectRedis(cluster.redisUrl);
  redis.on('error', () => undefined); // reconnects by itself while a test restarts Redis
  const store = new RequestStore(redis, prefix);
  const registry = new PipelineRegistry(redis, store.keys);
  return {
    url: cluster.gatewayUrl,
    modelDir,
    prefix,
    redis,
    store,
    registry,
    cluster,
    logs,
    stop: async () => {
      await cluster.stop();
      await closeRedis(redis);
      await redisServer?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
