// `pnpm bench recovery`: how long a stream stalls when a process of the cluster a new user starts
// dies mid-reply (issue 12). `chatglm up`'s cluster on the embedded default model, as
// `./scripts/start` starts it: its own redis-server, the gateway, ONE pipeline of 2 stage workers
// with the workers' default job lock. With one pipeline nothing else can take over: a dead stage's
// streams wait for the launcher to restart it, a dead head's for its lock to lapse and the
// restarted head to take its jobs back.
//
// Each repetition starts a fresh cluster and kills one process once, at a random piece of a
// streamed reply: a single death, as in service (the launcher's restart backoff grows when a child
// dies again within a minute, see services/cli/src/up/restart-backoff.ts). The stall is the longest
// gap between two pieces of text the client saw; the reply must equal the one the same request got
// undisturbed just before (the run fails otherwise). Targets: a stage's death, 3 s; the head's, the
// lock duration + 2 s. `--trace` prints what the processes logged from the kill to the end of the
// reply. The test suite's fault matrix (test/cluster/faults.test.ts) covers every fault with two
// pipelines; this measures what one pipeline, the default, costs.
import { parseArgs } from 'node:util';
import { ensureDefaultModel } from '../services/cli/src/default-model.ts';
import { LocalCluster } from '../services/cli/src/up/local-cluster.ts';
import { WORKER_DEFAULTS } from '../services/worker/src/worker-options.ts';
import { streamWithResume, type ResumedStream } from '../test/support/resumable-stream.ts';
import { ClusterOutput } from './support/cluster-output.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';

const STAGES = 2;
const MAX_TOKENS = 200;
/** At this temperature the default model's replies often run long (see load.ts). */
const TEMPERATURE = 2;
/** The fault comes at a random piece of text from the 5th to the 10th before the end. */
const MIN_PIECES = 40;
const STAGE_TARGET_MS = 3000;
const HEAD_TARGET_MS = WORKER_DEFAULTS.lockDurationMs + 2000;

interface Fault {
  name: string;
  /** Which stage of the pipeline is killed. */
  stage: number;
  targetMs: number;
  target: string;
}

const FAULTS: Fault[] = [
  { name: 'kill -9 the last stage', stage: STAGES - 1, targetMs: STAGE_TARGET_MS, target: 'issue 12' },
  { name: 'kill -9 the head', stage: 0, targetMs: HEAD_TARGET_MS, target: 'lock + 2 s' },
];

export async function runRecoveryBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { values } = parseArgs({ args: argv, options: { repetitions: { type: 'string', default: '5' }, trace: { type: 'boolean', default: false }, json: { type: 'string' } } });
  const repetitions = Number(values.repetitions);
  if (!Number.isInteger(repetitions) || repetitions < 1) throw new Error(`--repetitions must be an integer >= 1, got ${values.repetitions}`);
  const started = performance.now();
  const modelDir = await ensureDefaultModel();
  console.log(`recovery benchmark: 1 pipeline of ${STAGES} stages (embedded default model, job lock ${WORKER_DEFAULTS.lockDurationMs} ms); each fault ${repetitions} times, each time in a fresh cluster at a random piece of a streamed reply`);
  const figures: BenchFigure[] = [];
  for (const [f, fault] of FAULTS.entries()) {
    const stalls: number[] = [];
    for (let rep = 0; rep < repetitions; rep++) {
      const stall = await oneDeath(modelDir, fault, 1000 * f + 100 * rep, values.trace);
      stalls.push(stall);
    }
    stalls.sort((a, b) => a - b);
    figures.push(figure('recovery', `${fault.name}: stall, median`, stalls[Math.floor(stalls.length / 2)]!, 'ms'));
    figures.push(figure('recovery', `${fault.name}: stall, worst of ${repetitions}`, stalls.at(-1)!, 'ms', { value: fault.targetMs, atMost: true, what: fault.target }));
  }
  printFigures(figures);
  console.log(`\nrecovery benchmark done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (values.json) writeFigures(values.json, figures);
  return figures;
}

/** Starts a cluster, kills `fault.stage` once mid-reply, checks the reply; returns the stall in ms. */
async function oneDeath(modelDir: string, fault: Fault, firstSeed: number, trace: boolean): Promise<number> {
  // What the processes and the launcher print, each line with its time (ms since this run began).
  const output = new ClusterOutput();
  const cluster = new LocalCluster({ modelDir, stages: STAGES, port: 0, host: '127.0.0.1', redisPrefix: 'bench-recovery', ...output.listeners });
  const shown = (from = 0) => output.text(from);
  try {
    await cluster.start();
    const { body, reference } = await longReply(cluster.gatewayUrl, firstSeed);
    const atPiece = 5 + Math.floor(Math.random() * Math.min(60, reference.textAt.length - 10));
    let killedAt: number | undefined;
    const faulted = await streamWithResume(() => cluster.gatewayUrl, body, {
      deadlineMs: 120_000,
      onChunk: (s) => {
        if (killedAt === undefined && s.textAt.length >= atPiece) {
          cluster.stage(0, fault.stage)!.kill('SIGKILL');
          killedAt = performance.now();
        }
      },
    });
    if (killedAt === undefined) throw new Error(`${fault.name}: the reply ended before piece ${atPiece} of text`);
    if (faulted.text !== reference.text) throw new Error(`${fault.name} at piece ${atPiece}: the reply differs from the undisturbed one\n${shown(killedAt)}`);
    const stall = Math.max(...faulted.textAt.slice(1).map((t, i) => t - faulted.textAt[i]!));
    console.log(`  ${fault.name}, at piece ${atPiece} of ${reference.textAt.length}: stall ${(stall / 1000).toFixed(2)} s, the reply whole and exact`);
    if (trace) console.log(`    (times from the kill)\n${shown(killedAt)}`);
    return stall;
  } catch (err) {
    console.log(shown());
    throw err;
  } finally {
    await cluster.stop();
  }
}

/** A request whose undisturbed reply has at least MIN_PIECES pieces of text (the default model's replies vary in length), and that reply. */
async function longReply(gatewayUrl: string, firstSeed: number): Promise<{ body: Record<string, unknown>; reference: ResumedStream }> {
  for (let seed = firstSeed; seed < firstSeed + 50; seed++) {
    const body = { messages: [{ role: 'user', content: `恢复 ${seed}` }], seed, max_tokens: MAX_TOKENS, temperature: TEMPERATURE };
    const reference = await streamWithResume(() => gatewayUrl, body);
    if (reference.textAt.length >= MIN_PIECES) return { body, reference };
  }
  throw new Error(`none of 50 requests got a reply of ${MIN_PIECES} pieces of text`);
}
