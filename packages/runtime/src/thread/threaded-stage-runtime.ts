// A StageRuntime whose ONNX Runtime session runs in a worker thread: session.run() blocks the
// thread it runs on, and the hosting process (a gRPC server, the pipeline head) must stay
// responsive. Which thread: see StageThreadHost.
import { ChatGlmError } from '@chatglm/common';
import type { DecodeRequest, KvCapacity, PrefillRequest, RunOptions, StageOutput, StageRuntime, StageRuntimeInfo, StageSpec } from '../stage-runtime.ts';
import { StageThreadHost } from './stage-thread-host.ts';
import type { ThreadCall } from './thread-protocol.ts';

export class ThreadedStageRuntime implements StageRuntime {
  private closed = false;

  private constructor(
    private readonly host: StageThreadHost,
    private readonly stage: number,
    readonly info: StageRuntimeInfo,
  ) {}

  /** Loads the stage (builds the graph or reads the bundle, creates the session) in its thread. */
  static async create(spec: StageSpec): Promise<ThreadedStageRuntime> {
    if (spec.weights.kind === 'tensors') throw new ChatGlmError('invalid_stage_spec', "weights of kind 'tensors' are functions and cannot be sent to a stage thread; use StageExecutor in this thread, or 'memory' tensors");
    const host = StageThreadHost.for(spec.device ?? 'cpu');
    const stage = host.addStage();
    try {
      const info = (await host.call(stage, { method: 'init', spec })) as StageRuntimeInfo;
      return new ThreadedStageRuntime(host, stage, info);
    } catch (err) {
      await host.removeStage(stage);
      throw err;
    }
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

  /**
   * Calls `watcher` once if the stage's thread dies: the runtime then fails every call, so a process
   * serving it should exit and be restarted rather than go on answering heartbeats and probes.
   */
  onCrash(watcher: (err: Error) => void): void {
    this.host.onCrash(watcher);
  }

  /**
   * Whether the stage's thread does its work, not just whether this event loop runs: a thread that
   * owes an answer must have owed it for less than `hungAfterMs` (a step longer than that counts as
   * hung), and an idle one must answer a cheap call within `pingTimeoutMs`.
   */
  async responsive(hungAfterMs: number, pingTimeoutMs = 2000): Promise<boolean> {
    if (this.closed || this.host.failed) return false;
    const owed = this.host.owedForMs();
    if (owed !== undefined) return owed < hungAfterMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), pingTimeoutMs)));
    try {
      return await Promise.race([this.capacity().then(() => true, () => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  capacity(): Promise<KvCapacity> {
    return this.call({ method: 'capacity' }) as Promise<KvCapacity>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.host.failed) await this.host.call(this.stage, { method: 'close' });
    } catch {
      // The thread is going away regardless; nothing to recover.
    } finally {
      await this.host.removeStage(this.stage);
    }
  }

  private call(call: ThreadCall): Promise<unknown> {
    if (this.closed) return Promise.reject(new ChatGlmError('stage_closed', 'the stage was closed'));
    return this.host.call(this.stage, call);
  }
}
