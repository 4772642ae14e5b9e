// One child process of the local cluster: started, watched for its CHATGLM_READY line, restarted
// with backoff when it dies unexpectedly, stopped with SIGTERM (then SIGKILL) on shutdown. A child
// with a health URL is also probed once ready: one that stops answering (frozen, hung in a step) is
// killed, and so restarted like one that died.
import { spawn, type ChildProcess } from 'node:child_process';
import { READY_MARKER } from '@chatglm/common';
import { RestartBackoff } from './restart-backoff.ts';

export interface ProcessSpec {
  /** Short name for messages, e.g. "pipeline 0 stage 1". */
  name: string;
  command: string;
  /** Arguments; called again on every (re)start so a restart can reuse what the first start learned. */
  args: () => string[];
  env?: Record<string, string>;
  /** Restart after an unexpected exit. Default true. */
  restart?: boolean;
  /** For programs that print no CHATGLM_READY line: a stdout line that means "ready". */
  readyLine?: RegExp;
  /** Probed with GET once the process is ready (its /healthz); undefined: not probed. */
  healthUrl?: () => string | undefined;
}

export interface ReadyInfo {
  pid: number;
  [key: string]: unknown;
}

const READY_TIMEOUT_MS = 120_000;
/** A health probe every second, each given 2 s; three failures in a row kill the process (~3-5 s). */
const HEALTH_INTERVAL_MS = 1000;
const HEALTH_TIMEOUT_MS = 2000;
const HEALTH_FAILURES_TO_KILL = 3;

/** Children of this process; if the launcher exits without stopping them, they go with it. */
const LIVE_CHILDREN = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of LIVE_CHILDREN) child.kill('SIGKILL');
});

export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private readonly backoff = new RestartBackoff();
  private readyInfo: ReadyInfo | undefined;
  private previousReady: ReadyInfo | undefined;
  private readyWaiters: { resolve: (info: ReadyInfo) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }[] = [];
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: ProcessSpec,
    /** Where the child's output lines go (the launcher prefixes them with the name). */
    private readonly onLine: (name: string, stream: 'stdout' | 'stderr', line: string) => void,
    private readonly onEvent: (message: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The current run's ready line (undefined while (re)starting). */
  get ready(): ReadyInfo | undefined {
    return this.readyInfo;
  }

  /** The most recent ready line of any run: a restart reuses what the first run bound. */
  get lastReady(): ReadyInfo | undefined {
    return this.readyInfo ?? this.previousReady;
  }

  /** Starts the process and resolves with its ready line's fields. */
  start(): Promise<ReadyInfo> {
    this.launch();
    return this.waitReady();
  }

  waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<ReadyInfo> {
    if (this.readyInfo) return Promise.resolve(this.readyInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.spec.name} did not become ready within ${timeoutMs / 1000} s`)), timeoutMs);
      this.readyWaiters.push({ resolve, reject, timer });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.healthTimer);
    for (const w of this.readyWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`${this.spec.name} was stopped before it became ready`));
    }
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Kills the process as a crash would (tests of the restart and recovery paths). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  private launch(): void {
    this.previousReady = this.readyInfo ?? this.previousReady;
    this.readyInfo = undefined;
    // A process group of its own: Ctrl-C in the terminal reaches only the launcher, which then
    // stops the children in order (instead of every child racing to exit on the same SIGINT).
    const child = spawn(this.spec.command, this.spec.args(), { env: { ...process.env, ...this.spec.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    LIVE_CHILDREN.add(child);
    child.once('exit', () => LIVE_CHILDREN.delete(child));
    this.pipeLines(child, 'stdout');
    this.pipeLines(child, 'stderr');
    child.on('error', (err) => this.onEvent(`${this.spec.name}: cannot start (${err.message})`));
    child.on('exit', (code, signal) => {
      clearTimeout(this.healthTimer);
      if (this.stopping) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (this.spec.restart === false) {
        this.onEvent(`${this.spec.name} (pid ${child.pid}) exited with ${how}`);
        return;
      }
      const delay = this.backoff.nextDelayMs(Date.now());
      this.restarts += 1;
      this.onEvent(`${this.spec.name} (pid ${child.pid}) exited with ${how}; restarting in ${(delay / 1000).toFixed(1)} s`);
      setTimeout(() => {
        if (!this.stopping) this.launch();
      }, delay);
    });
  }

  private pipeLines(child: ChildProcess, stream: 'stdout' | 'stderr'): void {
    let buffer = '';
    child[stream]?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (stream === 'stdout' && line.startsWith(`${READY_MARKER} `)) this.markReady(JSON.parse(line.slice(READY_MARKER.length + 1)) as ReadyInfo);
        else {
          if (stream === 'stdout' && this.spec.readyLine?.test(line)) this.markReady({ pid: child.pid ?? 0 });
          this.onLine(this.spec.name, stream, line);
        }
      }
    });
  }

  private markReady(info: ReadyInfo): void {
    this.readyInfo = info;
    this.backoff.ready(Date.now());
    if (this.restarts > 0) this.onEvent(`${this.spec.name} is back (pid ${info.pid})`);
    for (const w of this.readyWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(info);
    }
    if (this.child) this.probe(this.child, 0);
  }

  /** Probes the child's health URL every interval until it exits; kills it after repeated failures. */
  private probe(child: ChildProcess, failures: number): void {
    const url = this.spec.healthUrl?.();
    if (!url) return;
    clearTimeout(this.healthTimer);
    this.healthTimer = setTimeout(() => {
      fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) }).then(
        (res) => res.ok,
        () => false,
      ).then((ok) => {
        if (this.stopping || this.child !== child || child.exitCode !== null || child.signalCode !== null) return;
        const failed = ok ? 0 : failures + 1;
        if (failed >= HEALTH_FAILURES_TO_KILL) {
          this.onEvent(`${this.spec.name} (pid ${child.pid}) failed ${failed} health checks in a row (${url}); killing it`);
          child.kill('SIGKILL');
          return;
        }
        this.probe(child, failed);
      });
    }, HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
  }
}
