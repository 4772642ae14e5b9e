// A stand-in for a pipeline head: a real BullMQ Worker on the gateway's queue that plays back a
// scripted reply through RequestStore (start -> progress per delta -> finish), with small delays,
// sends pipeline heartbeats and watches cancellations, so gateway tests need no model.
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Cancellations, GENERATE_QUEUE, PipelineRegistry, RequestStore, closeRedis, connectRedis, fromWireParams, type GenerateJobData, type GenerateJobResult } from '@chatglm/queue';
import type { SamplingParams } from '@chatglm/generation';

export interface Script {
  deltas: string[];
  /** Pause before each delta, ms. */
  delayMs: number;
  finishReason: string;
  /** Fail with this error instead of finishing (after the deltas). */
  error?: { code: string; message: string };
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
  worker!: Worker<GenerateJobData, GenerateJobResult>;

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
    head.worker = new Worker<GenerateJobData, GenerateJobResult>(GENERATE_QUEUE, (job) => head.#run(job), {
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

  async #run(job: Job<GenerateJobData, GenerateJobResult>): Promise<GenerateJobResult> {
    const data = job.data;
    const id = data.requestId;
    this.jobs.push({ ...data, params: fromWireParams(data.params) });
    this.#running.add(id);
    try {
      const script = this.script(data);
      await this.#store.start(id);
      let text = '';
      const tokenIds: number[] = [];
      for (const delta of script.deltas) {
        await sleep(script.delayMs);
        if (this.#cancelledNow.has(id)) {
          this.cancelled.push(id);
          await this.#store.finish({ id, delta: '', text, tokenIds, finishReason: 'cancelled', promptTokens: data.promptIds.length });
          return { text, finishReason: 'cancelled', promptTokens: data.promptIds.length, completionTokens: tokenIds.length };
        }
        text += delta;
        tokenIds.push(tokenIds.length + 10);
        await this.#store.progress([{ id, delta, text, tokenIds }]);
      }
      if (script.error) {
        await this.#store.fail(id, script.error.code, script.error.message);
        return { text, finishReason: 'error', promptTokens: data.promptIds.length, completionTokens: tokenIds.length };
      }
      await this.#store.finish({ id, delta: '', text, tokenIds, finishReason: script.finishReason, promptTokens: data.promptIds.length });
      return { text, finishReason: script.finishReason, promptTokens: data.promptIds.length, completionTokens: tokenIds.length };
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
