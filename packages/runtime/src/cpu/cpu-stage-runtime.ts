// A StageRuntime whose ONNX Runtime session runs in a worker thread: session.run() blocks the
// thread it runs on, and the hosting process (a gRPC server, the pipeline head) must stay responsive.
import { Worker } from 'node:worker_threads';
import { ChatGlmError, toErrorCode } from '@chatglm/common';
import type { DecodeRequest, KvCapacity, PrefillRequest, RunOptions, StageRuntimeInfo, StageOutput, StageRuntime, StageSpec } from '../stage-runtime.ts';
import type { ThreadCall, ThreadResponse } from './thread-protocol.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class CpuStageRuntime implements StageRuntime {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private failure: Error | undefined;
  private info_: StageRuntimeInfo | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: ThreadResponse) => this.settle(msg));
    worker.on('error', (err) => this.fail(new ChatGlmError('stage_crashed', `stage thread crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new ChatGlmError('stage_crashed', `stage thread exited with code ${code}`));
    });
  }

  /** Starts the thread and loads the stage (builds the graph, creates the session). */
  static async create(spec: StageSpec): Promise<CpuStageRuntime> {
    const worker = new Worker(new URL('./boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./stage-thread.ts', import.meta.url).href },
    });
    const runtime = new CpuStageRuntime(worker);
    try {
      runtime.info_ = (await runtime.call({ method: 'init', spec })) as StageRuntimeInfo;
    } catch (err) {
      await runtime.close();
      throw err;
    }
    return runtime;
  }

  get info(): StageRuntimeInfo {
    if (!this.info_) throw new Error('stage not initialised');
    return this.info_;
  }

  prefill(request: PrefillRequest, options: RunOptions = {}): Promise<StageOutput> {
    return this.call({ method: 'prefill', request, options }) as Promise<StageOutput>;
  }

  decode(entries: DecodeRequest[], options: RunOptions = {}): Promise<StageOutput> {
    return this.call({ method: 'decode', entries, options }) as Promise<StageOutput>;
  }

  async release(seqId: string): Promise<void> {
    await this.call({ method: 'release', seqId });
  }

  capacity(): Promise<KvCapacity> {
    return this.call({ method: 'capacity' }) as Promise<KvCapacity>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (!this.failure) await this.call({ method: 'close' });
    } catch {
      // The thread is going away regardless; nothing to recover.
    } finally {
      this.closed = true;
      await this.worker.terminate();
      this.fail(new ChatGlmError('stage_closed', 'the stage was closed'));
    }
  }

  private call(call: ThreadCall): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new ChatGlmError('stage_closed', 'the stage was closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...call, id });
    });
  }

  private settle(msg: ThreadResponse): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else {
      const err = new ChatGlmError(toErrorCode(msg.error.code, 'stage_internal'), msg.error.message);
      if (msg.error.stack) err.stack = `${err.name}: ${err.message}\n  (in stage thread) ${msg.error.stack}`;
      p.reject(err);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
