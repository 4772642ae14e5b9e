// A stand-in for a pipeline head: a real BullMQ Worker on the gateway's queue that plays back a
// scripted reply through RequestStore (start -> progress per delta -> finish), with small delays,
// sends pipeline heartbeats and watches cancellations, so gateway tests need no model.
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ErrorCode } from '@chatglm/common';
import { Cancellations, GENERATE_QUEUE, PipelineRegistry, RequestStore, closeRedis, connectRedis, type GenerateJobData } from '@chatglm/queue';
import { samplingParamsFromJson, type FinishReason, type SampledToken, type SamplingParams } from '@chatglm/generation';

export interface Script {
  deltas: string[];
  /** Pause before each delta, ms. */
  delayMs: number;
  finishReason: FinishReason;
  /** Fail with this error instead of finishing (after the deltas). */
  error?: { code: ErrorCode; message: string };
}

export const DEFAULT_SCRIPT: Script = { deltas: ['你好', '👋', '！我是', ' ChatGLM-6B', '。'], delayMs: 15, finishReason: 'stop' };

export interface FakeHeadOptions {
  url: string;
  prefix: string;
  /** Send heartbeats (default true). */
  heartbeat?: boolean;
  /** Jobs run at once (default 8). */
  concurrency?: number;
  /** Start paused: jobs stay queued until resume() (default false). */
  paused?: boolean;
}

export class FakeHead {
  /** The reply each job gets; replace it per test. */
  script: (job: GenerateJobData) => Script = () => DEFAULT_SCRIPT;
  /** Every job taken, with its params decoded from the wire. */
  readonly jobs: (Omit<GenerateJobData, 'params'> & { params: SamplingParams })[] = [];
  /** Ids whose cancellation the head observed while running them. */
  readonly cancelled: string[] = [];
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #workerConnection: Redis;
  readonly #store: RequestStore;
  readonly #registry: PipelineRegistry;
  readonly #running = new Set<string>();
  readonly #cancelledNow = new Set<string>();
  #beat: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  worker!: Worker<GenerateJobData, void>;

  private constructor(private readonly o: FakeHeadOptions) {
    this.#redis = connectRedis(o.url);
    this.#sub = connectRedis(o.url);
    this.#workerConnection = connectRedis(o.url);
    this.#store = new RequestStore(this.#redis, o.prefix);
    this.#registry = new PipelineRegistry(this.#redis, this.#store.keys);
  }

  static async start(o: FakeHeadOptions): Promise<FakeHead> {
    const head = new FakeHead(o);
    head.#unsubscribe = await Cancellations.subscribe(head.#sub, head.#store.keys, (id) => {
      if (head.#running.has(id)) head.#cancelledNow.add(id);
    });
    head.worker = new Worker<GenerateJobData, void>(GENERATE_QUEUE, (job) => head.#run(job), {
      connection: head.#workerConnection,
      prefix: o.prefix,
      concurrency: o.concurrency ?? 8,
      autorun: !o.paused,
    });
    head.worker.on('error', () => undefined);
    if (o.heartbeat ?? true) await head.startHeartbeat();
    return head;
  }

  async startHeartbeat(): Promise<void> {
    await this.#registry.beat('fake-pipeline');
    this.#beat ??= setInterval(() => void this.#registry.beat('fake-pipeline').catch(() => undefined), 300);
  }

  async stopHeartbeat(): Promise<void> {
    clearInterval(this.#beat);
    this.#beat = undefined;
    await this.#registry.remove('fake-pipeline');
  }

  resume(): void {
    void this.worker.run();
  }

  /**
   * Token i of a reply is id 10 + i with logprob -0.1·(i + 1); its alternatives (as many as the
   * job asks for) are the next ids, each 1 less likely.
   */
  static token(i: number, alternatives: number): SampledToken {
    const tokenId = 10 + i;
    const logprob = -0.1 * (i + 1);
    return { tokenId, logprob, topLogprobs: Array.from({ length: alternatives }, (_, k) => ({ tokenId: tokenId + k + 1, logprob: logprob - k - 1 })) };
  }

  async #run(job: Job<GenerateJobData, void>): Promise<void> {
    const data = job.data;
    const id = data.requestId;
    this.jobs.push({ ...data, params: samplingParamsFromJson(data.params) });
    this.#running.add(id);
    const withLogprobs = data.logprobs !== undefined;
    const promptTokens = data.promptIds.length;
    try {
      const script = this.script(data);
      await this.#store.claim(id);
      let count = 0;
      for (const delta of script.deltas) {
        await sleep(script.delayMs);
        if (this.#cancelledNow.has(id)) {
          this.cancelled.push(id);
          await this.#store.finish({ id, delta: '', newTokens: [], completionTokens: count, withLogprobs, finishReason: 'cancelled', promptTokens });
          return;
        }
        const newTokens = [FakeHead.token(count, data.logprobs ?? 0)];
        count += 1;
        await this.#store.progress([{ id, delta, newTokens, completionTokens: count, withLogprobs }]);
      }
      if (script.error) {
        await this.#store.fail(id, script.error.code, script.error.message);
        return;
      }
      await this.#store.finish({ id, delta: '', newTokens: [], completionTokens: count, withLogprobs, finishReason: script.finishReason, promptTokens });
    } finally {
      this.#running.delete(id);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#beat);
    await this.worker.close().catch(() => undefined);
    await this.#unsubscribe?.().catch(() => undefined);
    await closeRedis(this.#sub);
    await closeRedis(this.#workerConnection);
    await closeRedis(this.#redis);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
