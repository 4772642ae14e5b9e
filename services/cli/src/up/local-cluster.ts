// The whole cluster on one machine: redis-server (unless a Redis URL is given), P pipelines of N
// stage workers, and the gateway, each a supervised child process. The model is a checkpoint (each
// stage converts its layers on first start) or the output of `chatglm convert` (each stage loads its
// bundle). A crashed child is restarted (a stage on its old port, so its upstream reconnects). The
// workers and the gateway run from bundles built once from the sources (process-bundles.ts), which
// load in a fraction of the time `tsx` takes: a restarted stage's streams wait for it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatGlmError, freePort, maskUrlCredentials, portIsFree } from '@chatglm/common';
import { markUsed, processBundles, type ProcessBundles } from './process-bundles.ts';
import { SupervisedProcess, type ProcessSpec } from './supervised-process.ts';
import { readConvertedStages, readModelDirectory, splitLayers } from '@chatglm/glm';

/**
 * The launcher's Redis memory bound: a quarter of the machine's memory. Each request's records take
 * about 8 KiB for a 20-token reply (measured by `pnpm bench load`) and live an hour, so 1 GiB holds
 * about 35 requests a second sustained (see startRedis).
 */
export const DEFAULT_REDIS_MAX_MEMORY = `${Math.floor(os.totalmem() / 4 / 2 ** 20)}mb`;

export interface LocalClusterOptions {
  /** A checkpoint, or the folder `chatglm convert` wrote (its stage-I-of-N bundles). */
  modelDir: string;
  /** Stages per pipeline (default 2; for converted bundles, their number, which this must match). */
  stages?: number;
  /** Pipelines consuming the one queue (default 1). */
  pipelines?: number;
  /** Gateway port (default 8000; 0 = any free port). */
  port?: number;
  /** Gateway address (default 127.0.0.1: this machine only). */
  host?: string;
  /** Use this Redis instead of starting redis-server. */
  redisUrl?: string;
  /** Where a started redis-server keeps its append-only file (default: a temp dir). */
  redisDir?: string;
  /** Port of a started redis-server (default: 6379 if free, else any free port). */
  redisPort?: number;
  /** Memory bound of a started redis-server, in its syntax (default DEFAULT_REDIS_MAX_MEMORY). */
  redisMaxMemory?: string;
  /** Redis key prefix of the workers and the gateway (default theirs, "chatglm"). */
  redisPrefix?: string;
  maxSequences?: number;
  maxTokens?: number;
  /** The workers' --kv-cache-tokens (default theirs: every slot at full length). */
  kvCacheTokens?: number;
  /**
   * ONNX Runtime threads per stage (default: cores / pipelines, at least 1). A pipeline's stages
   * mostly take turns (one stream's step passes through them one after another), and with more than
   * one worker no idle stage spins, so each stage gets every core of its pipeline's share: measured
   * with 2 stages on 2 cores (`pnpm bench cluster --quick`), one stream decoded 2.4x faster than with
   * a core per stage, and 16 streams 1.4x.
   */
  threads?: number;
  /**
   * Decode micro-batches a head keeps in flight (default 1). Here every stage shares this machine's
   * cores, each using all of its pipeline's share: two micro-batches would make the stages compete
   * for the same cores and cut the batch in two (an int4 product costs less per row the more rows it
   * has), so one step at a time goes through the stages in turn (`pnpm bench cluster` measures it).
   * Stages on machines of their own want one micro-batch per stage, the workers' default.
   */
  microBatches?: number;
  /** Extra arguments for every worker and for the gateway. */
  workerArgs?: string[];
  gatewayArgs?: string[];
  /** Lines the children print (default: stderr, prefixed with the child's name). */
  onLine?: (name: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** Launcher events: starts, restarts, exits. */
  onEvent?: (message: string) => void;
}

export interface RunningProcess {
  name: string;
  pid: number | undefined;
  detail: string;
}

export class LocalCluster {
  readonly processes: SupervisedProcess[] = [];
  private redisProcess: SupervisedProcess | undefined;
  private gatewayProcess: SupervisedProcess | undefined;
  private readonly pipelineStages: SupervisedProcess[][] = [];
  private tempDirs: string[] = [];
  /** Redis's URL, with the password of a redis-server started here. */
  redisUrl = '';
  gatewayUrl = '';
  /** The config file of a redis-server started here (it holds the password). */
  private redisConfig = '';
  /** The stages' shared secret: only this cluster's stages can send them steps. */
  private readonly stageSecret = randomBytes(24).toString('base64url');
  /** What the workers and the gateway run (see process-bundles.ts). */
  private bundles: ProcessBundles | undefined;

  constructor(private readonly o: LocalClusterOptions) {}

  async start(): Promise<void> {
    const plan = stagePlan(this.o.modelDir, this.o.stages);
    const stages = plan.stages.length;
    const pipelines = this.o.pipelines ?? 1;
    const workers = stages * pipelines;
    const threads = this.o.threads ?? Math.max(1, Math.floor(os.availableParallelism() / pipelines));
    try {
      const onBuild = () => this.event("building the workers' and the gateway's bundles from the sources (once per change)");
      const [bundles, redisUrl] = await Promise.all([processBundles({ onBuild }), this.o.redisUrl ?? this.startRedis()]);
      this.bundles = bundles;
      this.redisUrl = redisUrl;
      const common = [
        '--threads', String(threads),
        ...(workers > 1 ? ['--no-spin'] : []),
        ...(this.o.redisPrefix ? ['--redis-prefix', this.o.redisPrefix] : []),
        ...(this.o.maxSequences ? ['--max-sequences', String(this.o.maxSequences)] : []),
        ...(this.o.maxTokens ? ['--max-tokens', String(this.o.maxTokens)] : []),
        ...(this.o.kvCacheTokens ? ['--kv-cache-tokens', String(this.o.kvCacheTokens)] : []),
        ...(this.o.workerArgs ?? []),
      ];
      const gateway = this.add({
        name: 'gateway',
        args: () => [
          '--model', plan.gatewayModel,
          '--port', String(this.gatewayProcess?.lastReady?.port ?? this.o.port ?? 8000),
          '--host', this.o.host ?? '127.0.0.1',
          ...(this.o.redisPrefix ? ['--redis-prefix', this.o.redisPrefix] : []),
          ...(this.o.gatewayArgs ?? []),
        ],
        script: 'gateway',
        health: () => {
          const port = this.gatewayProcess?.ready?.port;
          return typeof port === 'number' ? `${this.gatewayBase(port)}/healthz` : undefined;
        },
      });
      this.gatewayProcess = gateway;
      const gatewayReady = gateway.start();
      // Every stage of a pipeline starts at once: on a first start each converts its layers into a
      // cached bundle, which takes minutes at full size, so they convert side by side; the head waits
      // for the rest of its pipeline. Stages after the head get their ports up front for that.
      // Pipelines after the first start once it is ready: their stages find the bundles converted,
      // and no two processes write the same bundle.
      const startPipeline = async (r: number) => {
        const ports = await Promise.all(plan.stages.map((_, i) => (i > 0 ? freePort() : Promise.resolve(0))));
        // Fixed per worker, so that a restarted one is scraped where it was.
        const metricsPorts = await Promise.all(plan.stages.map(() => freePort()));
        const procs = plan.stages.map((stage, i) => {
          const proc: SupervisedProcess = this.add({
            name: `pipeline ${r} stage ${i}`,
            script: 'worker',
            args: () => [
              ...common,
              ...stage,
              ...(i < stages - 1 ? ['--next', `127.0.0.1:${ports[i + 1] as number}`] : []),
              '--host', '127.0.0.1',
              '--pipeline-id', `local-${r}`,
              '--metrics-port', String(metricsPorts[i]),
              ...(i > 0 ? ['--port', String(ports[i])] : stages > 1 ? ['--micro-batches', String(this.o.microBatches ?? 1)] : []),
            ],
            // /healthz fails when the stage's runtime thread owes a step for too long; no answer at all (a frozen process) fails too.
            health: () => `http://127.0.0.1:${metricsPorts[i] as number}/healthz`,
          });
          return proc;
        });
        this.pipelineStages[r] = procs;
        await Promise.all(procs.map((p) => p.start()));
      };
      await startPipeline(0);
      await Promise.all(Array.from({ length: pipelines - 1 }, (_, r) => startPipeline(r + 1)));
      const g = await gatewayReady;
      this.gatewayUrl = this.gatewayBase(g.port as number);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Where a client on this machine reaches the gateway listening on `port`. */
  private gatewayBase(port: number): string {
    return `http://${this.o.host && this.o.host !== '0.0.0.0' ? this.o.host : '127.0.0.1'}:${port}`;
  }

  /** What runs where, for the launcher's banner and for tests. */
  describe(): RunningProcess[] {
    const out: RunningProcess[] = [];
    const url = maskUrlCredentials(this.redisUrl);
    if (this.redisProcess) out.push({ name: 'redis-server', pid: this.redisProcess.pid, detail: `${url} (password in ${this.redisConfig})` });
    else out.push({ name: 'redis', pid: undefined, detail: `${url} (not started here)` });
    this.pipelineStages.forEach((procs, r) =>
      procs.forEach((p, i) => {
        const layers = p.ready?.layers as [number, number] | undefined;
        const where = i === 0 ? 'head: consumes the queue' : `gRPC on 127.0.0.1:${p.ready?.port as number}`;
        out.push({ name: `pipeline ${r} stage ${i}`, pid: p.pid, detail: `layers ${layers ? `${layers[0]}-${layers[1] - 1}` : '?'}, ${where}` });
      }),
    );
    if (this.gatewayProcess) out.push({ name: 'gateway', pid: this.gatewayProcess.pid, detail: this.gatewayUrl });
    return out;
  }

  /** Where each process serves its Prometheus metrics: the gateway on its own port, each worker on one of its own. */
  metricsTargets(): { name: string; url: string }[] {
    const targets = this.gatewayUrl ? [{ name: 'gateway', url: `${this.gatewayUrl}/metrics` }] : [];
    this.pipelineStages.forEach((procs, r) =>
      procs.forEach((p, i) => {
        const port = p.lastReady?.metricsPort;
        if (typeof port === 'number') targets.push({ name: `pipeline ${r} stage ${i}`, url: `http://127.0.0.1:${port}/metrics` });
      }),
    );
    return targets;
  }

  stage(pipeline: number, stage: number): SupervisedProcess | undefined {
    return this.pipelineStages[pipeline]?.[stage];
  }

  get gateway(): SupervisedProcess | undefined {
    return this.gatewayProcess;
  }

  /** The redis-server this launcher started (undefined with --redis-url). */
  get redisServer(): SupervisedProcess | undefined {
    return this.redisProcess;
  }

  /** Stops the gateway, then the heads (they drain), then the other stages, then Redis. Idempotent. */
  async stop(): Promise<void> {
    await this.gatewayProcess?.stop();
    await Promise.all(this.pipelineStages.map((p) => p[0]?.stop()));
    await Promise.all(this.pipelineStages.flatMap((p) => p.slice(1).map((s) => s.stop())));
    await Promise.all(this.processes.map((p) => p.stop()));
    for (const d of this.tempDirs) fs.rmSync(d, { recursive: true, force: true });
    this.tempDirs = [];
  }

  private add(spec: { name: string; script: 'worker' | 'gateway'; args: () => string[]; health: () => string | undefined }): SupervisedProcess {
    const bundles = this.bundles;
    if (!bundles) throw new Error('the process bundles are not built yet');
    const args = () => {
      // Every (re)start: the set stays in use (process-bundles.ts deletes long-unused ones).
      markUsed(bundles.dir);
      return ['--enable-source-maps', bundles[spec.script], ...spec.args()];
    };
    // Redis's URL (with its password) and the stage secret go in the environment: a command line is visible to every user of the machine.
    const full: ProcessSpec = { name: spec.name, command: process.execPath, args, env: { REDIS_URL: this.redisUrl, CHATGLM_STAGE_SECRET: this.stageSecret }, healthUrl: spec.health };
    return this.track(full);
  }

  /** A launcher event: to `onEvent`, else to stderr. */
  private event(message: string): void {
    if (this.o.onEvent) this.o.onEvent(message);
    else process.stderr.write(`[launcher] ${message}\n`);
  }

  private track(spec: ProcessSpec): SupervisedProcess {
    const onLine = this.o.onLine ?? ((name, _stream, line) => process.stderr.write(`[${name}] ${line}\n`));
    const proc = new SupervisedProcess({ ...spec, env: { ...spec.env } }, onLine, (m) => this.event(m));
    this.processes.push(proc);
    return proc;
  }

  private async startRedis(): Promise<string> {
    const port = this.o.redisPort ?? ((await portIsFree(6379)) ? 6379 : await freePort());
    let dir = this.o.redisDir;
    if (!dir) {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-redis-'));
      this.tempDirs.push(dir);
    }
    fs.mkdirSync(dir, { recursive: true });
    // A random password, so that other users of this machine cannot command the cluster's Redis; it
    // lives in a config file only its owner reads, not on a command line.
    const password = randomBytes(24).toString('base64url');
    this.redisConfig = path.join(dir, 'redis.conf');
    // A memory bound with noeviction: past it Redis refuses writes (the gateway answers 503, a head
    // retries its write in place) instead of evicting keys, which would drop requests' records.
    fs.writeFileSync(this.redisConfig, `requirepass ${password}\nmaxmemory ${this.o.redisMaxMemory ?? DEFAULT_REDIS_MAX_MEMORY}\nmaxmemory-policy noeviction\n`, { mode: 0o600 });
    const proc = this.track({
      name: 'redis-server',
      command: 'redis-server',
      // Append-only persistence: accepted requests survive a restart of Redis itself. Each write is
      // on disk before Redis acknowledges it (appendfsync always): with the default (once a
      // second), a killed Redis came back without the last second of a reply, which its client had
      // already been sent, and the resumed attempt streamed that text again (found by the fault matrix).
      args: () => [this.redisConfig, '--port', String(port), '--bind', '127.0.0.1', '--daemonize', 'no', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir],
      readyLine: /Ready to accept connections/,
    });
    this.redisProcess = proc;
    await proc.start();
    return `redis://:${password}@127.0.0.1:${port}`;
  }
}

/** How each stage of a pipeline is given its model: its `--model` (and `--layers`) arguments. */
interface StagePlan {
  stages: string[][];
  /** The folder the gateway reads config.json and the tokenizer from. */
  gatewayModel: string;
}

function stagePlan(modelDir: string, stages: number | undefined): StagePlan {
  const converted = readConvertedStages(modelDir);
  if (converted) {
    if (stages !== undefined && stages !== converted.length) {
      throw new ChatGlmError('invalid_argument', `${modelDir} was converted for ${converted.length} stages; ${stages} were asked for (convert again with --stages ${stages})`);
    }
    return { stages: converted.map((s) => ['--model', s.dir]), gatewayModel: converted[0]!.dir };
  }
  const model = readModelDirectory(modelDir);
  const ranges = splitLayers(model.config.numLayers, stages ?? 2);
  return { stages: ranges.map((range) => ['--model', model.dir, '--layers', `${range.start}-${range.end - 1}`]), gatewayModel: model.dir };
}
