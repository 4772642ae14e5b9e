// A gateway under test: a real Redis (startTestRedis), a model directory with the project's test
// tokenizer, the app listening on 127.0.0.1:0 and (optionally) a fake head on the same queue.
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { createLogger } from '@chatglm/common';
import { TOKENIZER_FILE, toHfConfigJson } from '@chatglm/glm';
import { closeRedis } from '@chatglm/queue';
import { buildTestTokenizerModel } from '@chatglm/tokenizer/test-model';
import type { Redis } from 'ioredis';
import { connectGatewayRedis, createGatewayApp, loadGatewayModel, type GatewayApp, type GatewayModel, type GatewayOptions } from '../../src/index.ts';
import { tinyConfig } from '../../../../test/support/models.ts';
import { startTestRedis, type TestRedis } from '../../../../test/support/redis-server.ts';
import { FakeHead, type FakeHeadOptions } from './fake-head.ts';

/** ChatGLM-6B's context, so length limits behave as in production. */
export const TEST_MAX_LENGTH = 2048;

/** Writes config.json + ice_text.model (the project's test tokenizer) into a new temp dir. */
export function writeTestModelDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-gateway-model-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHfConfigJson(tinyConfig({ maxSequenceLength: TEST_MAX_LENGTH }))));
  fs.writeFileSync(path.join(dir, TOKENIZER_FILE), buildTestTokenizerModel());
  return dir;
}

let model: Promise<GatewayModel> | undefined;
/** The test model, loaded once per test process. */
export function testModel(): Promise<GatewayModel> {
  model ??= loadGatewayModel(writeTestModelDir());
  return model;
}

let n = 0;

export interface HarnessOptions {
  options?: Partial<GatewayOptions>;
  /** false: no fake head (no heartbeat, nothing consumes jobs). */
  head?: false | Omit<FakeHeadOptions, 'url' | 'prefix'>;
}

export interface HttpReply {
  status: number;
  headers: Headers;
  body: any;
}

export class Harness {
  private constructor(
    readonly url: string,
    readonly prefix: string,
    readonly redis: Redis,
    readonly gateway: GatewayApp,
    readonly server: Server,
    readonly base: string,
    readonly head: FakeHead | undefined,
    /** Every line the gateway logged. */
    readonly logs: readonly string[],
  ) {}

  static async start(redisUrl: string, o: HarnessOptions = {}): Promise<Harness> {
    const prefix = `gw${process.pid}x${n++}`;
    const { tokenizer, config } = await testModel();
    const redis = connectGatewayRedis(redisUrl);
    const logs: string[] = [];
    const gateway = createGatewayApp({
      redis,
      tokenizer,
      config,
      // A short resume grace: tests of client disconnects see the cancellation soon.
      options: { prefix, resumeGraceMs: 100, ...o.options },
      logger: createLogger('gateway', {}, (line) => void logs.push(line)),
    });
    const server = gateway.app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const head = o.head === false ? undefined : await FakeHead.start({ url: redisUrl, prefix, ...o.head });
    return new Harness(redisUrl, prefix, redis, gateway, server, base, head, logs);
  }

  /** The fake head (the test asked for one). */
  get fakeHead(): FakeHead {
    if (!this.head) throw new Error('this harness has no fake head');
    return this.head;
  }

  async post(pathname: string, body: unknown, init: RequestInit = {}): Promise<HttpReply> {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(this.base + pathname, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw, ...init });
    return { status: res.status, headers: res.headers, body: await parse(res) };
  }

  async get(pathname: string): Promise<HttpReply> {
    const res = await fetch(this.base + pathname);
    return { status: res.status, headers: res.headers, body: await parse(res) };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.gateway.close();
    await this.head?.close();
    await closeRedis(this.redis);
  }
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Polls `check` every 10 ms until it returns true or `ms` pass. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/**
 * One Redis and one gateway harness for a whole test file: registers the before/after hooks and
 * hands both out once started. `setup` runs after the start (e.g. to script the fake head).
 */
export function useHarness(setup?: (h: Harness) => void): { readonly h: Harness; readonly redisUrl: string } {
  let redis: TestRedis | undefined;
  let harness: Harness | undefined;
  before(async () => {
    redis = await startTestRedis();
    harness = await Harness.start(redis.url);
    setup?.(harness);
  });
  after(async () => {
    await harness?.close();
    await redis?.stop();
  });
  return {
    get h() {
      if (!harness) throw new Error('the harness starts in before(); use it inside tests');
      return harness;
    },
    get redisUrl() {
      if (!redis) throw new Error('Redis starts in before(); use it inside tests');
      return redis.url;
    },
  };
}
