// The host side of one stage worker thread: starts it, numbers the stages it runs, matches replies
// to calls, and fails every pending and later call once the thread dies. A CPU stage gets a thread
// of its own (its session's intra-op threads do the work); every WebGPU stage of the process shares
// one, because the provider's device is shared and must be driven from one thread at a time.
import { Worker } from 'node:worker_threads';
import { ChatGlmError, toErrorCode } from '@chatglm/common';
import type { StageDevice } from '../stage-runtime.ts';
import type { ThreadCall, ThreadResponse } from './thread-protocol.ts';

/**
 * The bundled thread entry (a file: URL) when this module runs from the bundles the launcher builds
 * (services/cli/src/up/process-bundles.ts defines it); not defined under tsx, where the thread loads
 * its TypeScript through boot.mjs.
 */
declare const CHATGLM_STAGE_THREAD_BUNDLE: string | undefined;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** When the call was posted (performance.now()): how long the thread has owed its oldest answer. */
  postedAt: number;
}

export class StageThreadHost {
  private readonly worker: Worker;
  private nextCall = 1;
  private nextStage = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly stages = new Set<number>();
  private failure: Error | undefined;
  private terminated = false;
  private readonly crashWatchers: ((err: Error) => void)[] = [];

  private constructor(private readonly onIdle: () => void) {
    this.worker =
      typeof CHATGLM_STAGE_THREAD_BUNDLE === 'string'
        ? new Worker(new URL(CHATGLM_STAGE_THREAD_BUNDLE))
        : new Worker(new URL('./boot.mjs', import.meta.url), { workerData: { entry: new URL('./stage-thread.ts', import.meta.url).href } });
    this.worker.on('message', (msg: ThreadResponse) => this.settle(msg));
    this.worker.on('error', (err) => this.crash(new ChatGlmError('stage_crashed', `stage thread crashed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => {
      if (!this.terminated) this.crash(new ChatGlmError('stage_crashed', `stage thread exited with code ${code}`));
    });
  }

  /** The thread a new stage on `device` runs in. */
  static for(device: StageDevice): StageThreadHost {
    if (device === 'cpu') return new StageThreadHost(() => undefined);
    sharedWebGpu ??= new StageThreadHost(() => {
      sharedWebGpu = undefined;
    });
    return sharedWebGpu;
  }

  /** A number for a new stage of this thread (its calls carry it). */
  addStage(): number {
    const stage = this.nextStage++;
    this.stages.add(stage);
    return stage;
  }

  call(stage: number, call: ThreadCall): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.terminated) return Promise.reject(new ChatGlmError('stage_closed', 'the stage was closed'));
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, postedAt: performance.now() });
      this.worker.postMessage({ ...call, id, stage });
    });
  }

  /** A stage is done with the thread; the last one stops it. */
  async removeStage(stage: number): Promise<void> {
    this.stages.delete(stage);
    if (this.stages.size > 0 || this.terminated) return;
    this.terminated = true;
    this.onIdle();
    await this.worker.terminate();
    this.fail(new ChatGlmError('stage_closed', 'the stage was closed'));
  }

  /** How long the oldest unanswered call has waited, in ms; undefined when the thread owes nothing. */
  owedForMs(): number | undefined {
    let oldest = Infinity;
    for (const p of this.pending.values()) oldest = Math.min(oldest, p.postedAt);
    return oldest === Infinity ? undefined : performance.now() - oldest;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Calls `watcher` once if the thread dies (not when it is closed): every later call would fail. */
  onCrash(watcher: (err: Error) => void): void {
    this.crashWatchers.push(watcher);
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

  private crash(err: Error): void {
    const first = this.failure === undefined;
    this.fail(err);
    if (first) for (const w of this.crashWatchers.splice(0)) w(err);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** The one thread of this process's WebGPU stages, while any is open. */
let sharedWebGpu: StageThreadHost | undefined;
