// `pnpm bench load`: the cluster under a steady load (issue 12). `chatglm up`'s cluster on the
// embedded default model (redis-server, the gateway, one pipeline of 2 stage workers) serves N
// streaming clients (default 64), each asking one streamed chat completion after another for
// `--seconds` (default 120, so that minute one, the 60 s, can be compared with minute two).
//
// Every request must come back whole and exact: an HTTP error, an error event, a stream without
// [DONE], or streamed deltas that do not add up to the reply the same request (prompt, seed,
// max_tokens) got when asked alone before the load, count as errors. Per half of the run it reports
// the time to first token (p50, p99) and tokens/s, and per process (gateway, each stage, Redis) the
// peak RSS and the RSS at the end of each half, which must grow by less than FLAT_GROWTH.
//
// Not part of `pnpm bench all`: it runs for minutes. `--clients 8 --seconds 20` is a quick look.
import { parseArgs } from 'node:util';
import { DEFAULT_REQUEST_TTL_SECONDS } from '@chatglm/queue';
import { ensureDefaultModel } from '../services/cli/src/default-model.ts';
import { LocalCluster } from '../services/cli/src/up/local-cluster.ts';
import { ClusterOutput } from './support/cluster-output.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { loadRequests, referenceReplies, runClients, type RequestRecord } from './support/load-clients.ts';
import { MemorySampler, type MemorySample } from './support/process-memory.ts';

const STAGES = 2;
const REDIS_PREFIX = 'bench-load';
/** How often each process's RSS is read, in ms. */
const SAMPLE_EVERY_MS = 2000;
/** "Memory flat": a process's RSS may grow by less than this share from the end of the first half to the end of the second. */
const FLAT_GROWTH = 0.1;
/** Failed requests printed in full. */
const SHOWN_ERRORS = 5;
const MiB = 2 ** 20;

export async function runLoadBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      clients: { type: 'string', default: '64' },
      seconds: { type: 'string', default: '120' },
      /** max_tokens of every request. */
      'max-tokens': { type: 'string', default: '64' },
      /**
       * temperature of every request. The default model steers <eop> near the top at every step: at
       * the API's default temperature its replies end after about 8 tokens, greedy ones after 1; at
       * 2 after about 20 (up to max_tokens).
       */
      temperature: { type: 'string', default: '2' },
      /** Distinct requests (prompt and seed) the clients cycle through, each with its reference reply. */
      requests: { type: 'string', default: '32' },
      /** KV cache slots per stage (default: one per client, so that every client's request decodes at once). */
      'max-sequences': { type: 'string' },
      json: { type: 'string' },
    },
  });
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const maxTokens = Number(values['max-tokens']);
  const temperature = Number(values.temperature);
  if (!(temperature >= 0 && temperature <= 2)) throw new Error(`--temperature must be a number in 0..2, got ${values.temperature}`);
  const distinct = Number(values.requests);
  const maxSequences = Number(values['max-sequences'] ?? clients);
  for (const [name, value, min] of [['clients', clients, 1], ['seconds', seconds, 10], ['max-tokens', maxTokens, 1], ['requests', distinct, 1], ['max-sequences', maxSequences, 1]] as const) {
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}, got ${value}`);
  }
  const started = performance.now();
  const modelDir = await ensureDefaultModel();
  console.log(`load benchmark: ${clients} streaming clients for ${seconds} s on 1 pipeline of ${STAGES} stages (embedded default model, ${maxSequences} KV slots per stage), max_tokens ${maxTokens}, temperature ${temperature}, ${distinct} distinct requests (prompt and seed)`);

  // The children's last lines, printed if the cluster does not start; launcher events (exits, restarts) are kept whole.
  const output = new ClusterOutput(30);
  const { events } = output;
  const cluster = new LocalCluster({
    modelDir,
    stages: STAGES,
    port: 0,
    host: '127.0.0.1',
    redisPrefix: REDIS_PREFIX,
    maxSequences,
    ...output.listeners,
  });
  try {
    await cluster.start();
  } catch (err) {
    console.log(output.text());
    throw err;
  }
  try {
    for (const p of cluster.describe()) console.log(`  ${p.name.padEnd(20)} pid ${String(p.pid ?? '-').padEnd(8)} ${p.detail}`);
    const requests = loadRequests(distinct, { maxTokens, temperature });
    let t = performance.now();
    const references = await referenceReplies(cluster.gatewayUrl, requests);
    const meanTokens = references.reduce((n, r) => n + r.tokens, 0) / references.length;
    console.log(`  reference replies: ${distinct} requests asked alone in ${((performance.now() - t) / 1000).toFixed(1)} s, ${meanTokens.toFixed(1)} tokens each on average`);

    const eventsBefore = events.length;
    const sampler = new MemorySampler(() => cluster.describe(), SAMPLE_EVERY_MS);
    t = performance.now();
    sampler.start();
    // Readings at the very end of each half, which the memory figures compare.
    const marks = [0.5, 1].map((share) => setTimeout(() => sampler.read(), share * seconds * 1000));
    const records = await runClients(cluster.gatewayUrl, { clients, until: t + seconds * 1000, requests, references });
    for (const m of marks) clearTimeout(m);
    sampler.stop();
    console.log(`  load: ${records.length} requests in ${seconds} s, the last ended ${((performance.now() - t) / 1000 - seconds).toFixed(1)} s after`);

    const figures = loadFigures(records, sampler, { t0: t, seconds });
    const failed = records.filter((r) => r.error !== undefined);
    for (const r of failed.slice(0, SHOWN_ERRORS)) console.log(`  error (client ${r.client}, sent at ${((r.sentAt - t) / 1000).toFixed(1)} s): ${r.error}`);
    if (failed.length > SHOWN_ERRORS) console.log(`  ... and ${failed.length - SHOWN_ERRORS} more errors`);
    const exits = events.slice(eventsBefore).filter((m) => m.includes('exited'));
    for (const m of exits) console.log(`  during the load: ${m}`);
    figures.push(figure('load', 'child processes that exited during the load', exits.length, 'exits'));
    printFigures(figures);
    console.log(`\nload benchmark done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (values.json) writeFigures(values.json, figures);
    return figures;
  } finally {
    await cluster.stop();
  }
}

/** The run's figures: requests, errors, time to first token and tokens/s per half and overall; memory per process. */
function loadFigures(records: RequestRecord[], sampler: MemorySampler, run: { t0: number; seconds: number }): BenchFigure[] {
  const figures: BenchFigure[] = [];
  const add = (name: string, measured: number, unit: string, target?: BenchFigure['target'], note?: string) => figures.push(figure('load', name, measured, unit, target, note));
  const half = (run.seconds * 1000) / 2;
  const span = (from: number, to: number) => `${(from / 1000).toFixed(0)}-${(to / 1000).toFixed(0)} s`;
  const windows = [[0, half], [half, 2 * half], [0, 2 * half]] as const;

  const whole = records.filter((r) => r.error === undefined).length;
  add('requests served whole and exact', (100 * whole) / Math.max(1, records.length), '%', { value: 100, atMost: false, what: 'zero errors' });
  add('requests with errors', records.length - whole, 'requests');
  for (const [from, to] of windows) {
    const label = span(from, to);
    const sent = records.filter((r) => r.sentAt - run.t0 >= from && r.sentAt - run.t0 < to);
    const ttft = sent.flatMap((r) => (r.error === undefined && r.firstTextAt !== undefined ? [r.firstTextAt - r.sentAt] : []));
    const tokens = records.reduce((n, r) => n + r.tokenAt.filter((at) => at - run.t0 >= from && at - run.t0 < to).length, 0);
    add(`${label}: requests sent`, sent.length, 'requests');
    add(`${label}: requests with errors`, sent.filter((r) => r.error !== undefined).length, 'requests');
    if (ttft.length > 0) {
      add(`${label}: time to first token, p50`, quantile(ttft, 0.5), 'ms');
      add(`${label}: time to first token, p99`, quantile(ttft, 0.99), 'ms');
    }
    add(`${label}: tokens/s`, (tokens * 1000) / (to - from), 'tokens/s');
  }

  const last = sampler.samples.at(-1);
  const ends = [sampler.nearest(run.t0 + half), sampler.nearest(run.t0 + 2 * half)] as const;
  const at = (s: MemorySample | undefined) => (s ? `${((s.at - run.t0) / 1000).toFixed(0)} s` : '?');
  for (const name of last?.byName.keys() ?? []) {
    add(`${name}: peak RSS (VmHWM)`, last!.byName.get(name)!.peakBytes / MiB, 'MiB');
    const [one, two] = ends.map((s) => s?.byName.get(name)?.rssBytes);
    if (one === undefined || two === undefined) {
      console.log(`  ${name}: no RSS reading at the end of each half (did it restart?)`);
      continue;
    }
    add(`${name}: RSS at ${at(ends[0])}`, one / MiB, 'MiB');
    add(`${name}: RSS at ${at(ends[1])}`, two / MiB, 'MiB');
    add(`${name}: RSS growth ${at(ends[0])} -> ${at(ends[1])}`, (two - one) / MiB, 'MiB');
    // Redis keeps every request's records for an hour: its memory grows with the requests served.
    const note = name === 'redis-server' ? `Redis keeps each request's records ${DEFAULT_REQUEST_TTL_SECONDS} s` : undefined;
    add(`${name}: RSS growth ${at(ends[0])} -> ${at(ends[1])}, share`, (100 * (two - one)) / one, '%', { value: FLAT_GROWTH * 100, atMost: true, what: 'flat' }, note);
  }
  return figures;
}

/** The nearest-rank quantile q (0..1) of xs. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
