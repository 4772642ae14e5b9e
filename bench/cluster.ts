// `pnpm bench cluster`: what serving through the whole cluster costs beside the engine in-process,
// and how well a 2-stage pipeline keeps both stages busy (docs/performance.md, "Targets" 5 and 6).
//
// One random model at ChatGLM-6B width (int4 everywhere, as `--quantize int4` gives), converted for
// 1 and for 2 stages, is measured three ways in one run, one after another:
//   - in-process: one StageExecutor holding every layer (all threads): decode steps of 1 and of N
//     streams, each with the token choice of every stream (timed apart, over ChatGLM-6B's logits),
//     before and after each cluster;
//   - the cluster as `chatglm up --model DIR` starts it, with 2 stages and with 1 (redis-server,
//     gateway, BullMQ, the head and, with 2 stages, a second stage over gRPC; cores split between
//     the stages), asked over HTTP with streamed OpenAI completions: the decode rate of one stream
//     and of N concurrent streams (tokens counted as they arrive, over the window in which every
//     stream is decoding), each stage's idle share meanwhile, and the time to first token of one
//     request at a time beyond the prefill's compute. Compute times come from the head's heartbeat
//     stats (each stage's time in its layers, summed from the steps' timings).
//
// The engine in-process is measured right before and after each cluster, and each cluster is held
// to the mean of the two. `--quick` uses 3 layers at full width instead of 28 (its figures say so).
import path from 'node:path';
import { DEFAULT_PREFILL_CHUNK_LAYERS } from '@chatglm/glm';
import { PipelineRegistry, RedisKeys, closeRedis, connectRedis } from '@chatglm/queue';
import { StageExecutor } from '@chatglm/runtime';
import { ChatGLMTokenizer, buildChatPrompt } from '@chatglm/tokenizer';
import { LocalCluster } from '../services/cli/src/up/local-cluster.ts';
import { parseBenchOptions } from './support/bench-options.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';
import { ClusterOutput } from './support/cluster-output.ts';
import { cachedPositionsFor, decodeStepMs, median } from './support/decode-timing.ts';
import { figure, printFigures, writeFigures, type BenchFigure } from './support/figures.ts';
import { randomConvertedModel, type RandomConvertedModel } from './support/random-converted-model.ts';
import { tokenChoiceMs } from './support/sampling-timing.ts';
import { streamChat, type StreamedTokens } from './support/streamed-tokens.ts';

const QUICK_LAYERS = 3;
/** The chat message every request sends (about 20 tokens with its chat template). */
const QUERY = 'Hello, please tell me a little about yourself.';
/** Serving must keep this share of the in-process engine's tokens/s (docs/performance.md, "Targets"). */
const CLUSTER_SHARE = 0.95;
/** Time to first token may exceed the prefill's compute by at most this (p50). */
const TTFT_OVERHEAD_MS = 20;
/** 2 stages must keep this share of one stage's tokens/s at N streams. */
const PIPELINE_SHARE = 0.9;
const PIPELINE_ID = 'local-0';
const REDIS_PREFIX = 'bench';

export async function runClusterBenchmark(argv: string[]): Promise<BenchFigure[]> {
  const { quick, quantization, threads, json, own } = parseBenchOptions(argv, { streams: '16', tokens: '', ttft: '', 'activation-dtype': '', 'stage-threads': '' });
  const streams = Number(own.streams);
  // --quick: fewer tokens and first-token probes, so that `pnpm bench all --quick` stays within 4 minutes.
  const tokens = Number(own.tokens || (quick ? 24 : 48));
  const ttftRequests = Number(own.ttft || (quick ? 2 : 5));
  for (const [name, value, min] of [['streams', streams, 1], ['tokens', tokens, 2], ['ttft', ttftRequests, 1]] as const) {
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}, got ${value}`);
  }
  const layers = quick ? QUICK_LAYERS : CHATGLM_6B.numLayers;
  const note = quick ? `${QUICK_LAYERS} layers at full width` : undefined;
  const started = performance.now();
  console.log(`cluster benchmark: ChatGLM-6B width, ${layers} layers, linears ${quantization.linears}, lm_head ${quantization.embedding}, ${threads} threads in all; 1 and ${streams} streams of ${tokens} tokens`);
  // The clusters run what workers convert by default (prefill chunks of DEFAULT_PREFILL_CHUNK_LAYERS
  // layers); the engine in-process is the stage in one graph, its fastest.
  const engineModel = await randomConvertedModel(layers, 1, quantization);
  const one = await randomConvertedModel(layers, 1, quantization, DEFAULT_PREFILL_CHUNK_LAYERS);
  const two = await randomConvertedModel(layers, 2, quantization, DEFAULT_PREFILL_CHUNK_LAYERS);
  const tokenizer = await ChatGLMTokenizer.load(path.join(one.stageDirs[0]!, 'ice_text.model'));
  const promptIds = tokenizer.encode(buildChatPrompt([], QUERY));
  console.log(`  the chat prompt is ${promptIds.length} tokens`);

  // The engine in-process is measured right before and right after each cluster (this machine's
  // memory bandwidth drifts within minutes, and the figures are ratios), and is not loaded while a
  // cluster runs (a 2-stage cluster's stream took 700 ms per token beside it, 430 ms alone).
  const engine = () => inProcessTokensPerSecond(engineModel, streams, threads, quick);
  const run = { streams, tokens, ttftRequests, promptTokens: promptIds.length, activationDtype: own['activation-dtype'], stageThreads: own['stage-threads'] ? Number(own['stage-threads']) : undefined };
  // Engine, 2-stage cluster, engine, 1-stage cluster, engine: the middle measurement serves both.
  const first = await engine();
  const pipedAlone = await measureCluster(two, 2, run);
  const between = await engine();
  const singleAlone = await measureCluster(one, 1, run);
  const last = await engine();
  const piped = { ...pipedAlone, reference: meanOf(first, between) };
  const single = { ...singleAlone, reference: meanOf(between, last) };

  const figures: BenchFigure[] = [];
  const add = (name: string, measured: number, unit: string, target?: BenchFigure['target']) => figures.push(figure('cluster', name, measured, unit, target, note));
  const share = (reference: number) => ({ value: CLUSTER_SHARE * reference, atMost: false, what: `${CLUSTER_SHARE * 100}% of in-process, measured beside it` });
  for (const [stages, r] of [[2, piped], [1, single]] as const) {
    const { generating, forward } = r.reference;
    add(`in-process beside ${stages} stage(s), 1 stream: tokens/s`, generating[0], 'tokens/s');
    add(`in-process beside ${stages} stage(s), ${streams} streams: tokens/s`, generating[1], 'tokens/s');
    add(`in-process beside ${stages} stage(s), 1 stream, decode steps alone: tokens/s`, forward[0], 'tokens/s');
    add(`in-process beside ${stages} stage(s), ${streams} streams, decode steps alone: tokens/s`, forward[1], 'tokens/s');
    add(`${stages} stage(s), 1 stream: tokens/s`, r.tokensPerSecond[0], 'tokens/s', stages === 2 ? share(generating[0]) : undefined);
    add(`${stages} stage(s), ${streams} streams: tokens/s`, r.tokensPerSecond[1], 'tokens/s', stages === 2 ? share(generating[1]) : undefined);
    add(`${stages} stage(s): time to first token beyond the prefill, p50`, r.ttftBeyondPrefillMs, 'ms', { value: TTFT_OVERHEAD_MS, atMost: true, what: 'prefill + 20 ms' });
  }
  // One stage's tokens/s scaled by the engine's drift between the two clusters' measurements.
  const singleThen = single.tokensPerSecond[1] * (piped.reference.generating[1] / single.reference.generating[1]);
  add(`2 stages against 1 stage at ${streams} streams`, piped.tokensPerSecond[1] / singleThen, 'x', { value: PIPELINE_SHARE, atMost: false, what: `${PIPELINE_SHARE * 100}% of one stage` });
  for (const [i, idle] of piped.idleShare.entries()) add(`2 stages, ${streams} streams: stage ${i} idle`, idle * 100, '%');
  printFigures(figures);
  console.log(`\ncluster benchmark done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (json) writeFigures(json, figures);
  return figures;
}

/** Steps each in-process decode measurement times (fewer with --quick). */
const IN_PROCESS_STEPS = { full: 8, quick: 4 };

/** The engine in-process at [1 stream, N streams], tokens/s. */
interface InProcessRates {
  /** Generating: each decode step plus the token choice of every stream, as the cluster pays them. */
  generating: [number, number];
  /** The decode steps alone. */
  forward: [number, number];
}

/**
 * One stage holding every layer, loaded in this process. A token costs the engine a decode step
 * and a token choice per stream, the processors and sampler over the vocabulary's logits with the
 * parameters the cluster's requests get (ChatGLM's defaults, the chosen token's logprob kept): the
 * cluster's last stage makes the same choice after each step, so both sides of the ratio include it.
 */
async function inProcessTokensPerSecond(model: RandomConvertedModel, streams: number, threads: number, quick: boolean): Promise<InProcessRates> {
  const { config } = model;
  const steps = quick ? IN_PROCESS_STEPS.quick : IN_PROCESS_STEPS.full;
  const stage = await StageExecutor.create({ config, range: model.ranges[0]!, weights: { kind: 'bundle', dir: model.stageDirs[0]! }, maxSequences: streams, maxTokensPerSequence: cachedPositionsFor(steps), threads });
  try {
    await decodeStepMs(config, [stage], 1, 2); // the first runs of a session are slow
    const oneMs = await decodeStepMs(config, [stage], 1, steps);
    const manyMs = await decodeStepMs(config, [stage], streams, steps);
    const choiceMs = tokenChoiceMs({}, {});
    const rates: InProcessRates = {
      generating: [1000 / (oneMs + choiceMs), (streams * 1000) / (manyMs + streams * choiceMs)],
      forward: [1000 / oneMs, (streams * 1000) / manyMs],
    };
    console.log(
      `  in-process: ${rates.generating[0].toFixed(2)} tokens/s (1 stream), ${rates.generating[1].toFixed(2)} (${streams} streams); ` +
        `decode steps alone ${rates.forward[0].toFixed(2)} and ${rates.forward[1].toFixed(2)}, a token choice ${choiceMs.toFixed(2)} ms`,
    );
    return rates;
  } finally {
    await stage.close();
  }
}

/** The engine's tokens/s around a cluster: the mean of the measurements just before and just after. */
function meanOf(before: InProcessRates, after: InProcessRates): InProcessRates {
  const mean = (a: [number, number], b: [number, number]): [number, number] => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  return { generating: mean(before.generating, after.generating), forward: mean(before.forward, after.forward) };
}

interface ClusterRun {
  streams: number;
  tokens: number;
  ttftRequests: number;
  promptTokens: number;
  /** Passed to the workers when not empty. */
  activationDtype: string;
  /** ONNX Runtime threads of each stage (default the launcher's: the cores split between the pipelines). */
  stageThreads: number | undefined;
}

interface ClusterFigures {
  /** Decode tokens/s at [1 stream, N streams]. */
  tokensPerSecond: [number, number];
  /** p50 of one request at a time: time to first token less the stages' compute for its prefill. */
  ttftBeyondPrefillMs: number;
  /** Each stage's idle share while N streams decode. */
  idleShare: number[];
}

async function measureCluster(model: RandomConvertedModel, stages: number, run: ClusterRun): Promise<ClusterFigures> {
  // The children's last lines, printed if the cluster does not start.
  const output = new ClusterOutput(30);
  const cluster = new LocalCluster({
    modelDir: model.dir,
    port: 0,
    host: '127.0.0.1',
    redisPrefix: REDIS_PREFIX,
    maxSequences: run.streams,
    maxTokens: run.promptTokens + run.tokens + 8,
    ...(run.stageThreads !== undefined && { threads: run.stageThreads }),
    workerArgs: run.activationDtype ? ['--activation-dtype', run.activationDtype] : [],
    ...output.listeners,
  });
  const t0 = performance.now();
  try {
    await cluster.start();
  } catch (err) {
    console.log(output.text());
    throw err;
  }
  console.log(`  cluster of ${stages} stage(s) ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const redis = connectRedis(cluster.redisUrl);
  const registry = new PipelineRegistry(redis, new RedisKeys(REDIS_PREFIX));
  try {
    const ask = (seed: number, maxTokens: number) => streamChat(cluster.gatewayUrl, { messages: [{ role: 'user', content: QUERY }], seed, max_tokens: maxTokens });
    await ask(1, 2);
    // One token asked for: the request is its prefill alone, whose compute the head's stats show.
    const ttft: number[] = [];
    const beyond: number[] = [];
    const prefillCompute: number[] = [];
    let before = await statsTakenAfter(registry, Date.now());
    for (let i = 0; i < run.ttftRequests; i++) {
      const r = await ask(10 + i, 1);
      if (r.tokenAt.length === 0) throw new Error(`a first-token probe got no token (finish reason ${r.finishReason})`);
      const after = await statsTakenAfter(registry, Date.now());
      const compute = busyBetween(before, after);
      ttft.push(r.tokenAt[0]! - r.sentAt);
      beyond.push(r.tokenAt[0]! - r.sentAt - compute);
      prefillCompute.push(compute);
      before = after;
    }
    // One stream: how much of its time per token the stages spend in their layers (the rest is the
    // serving path: sampling, Redis, gRPC, the gateway).
    const aloneBefore = before; // taken after the last probe ended
    const aloneStream = await ask(100, run.tokens);
    const aloneAfter = await statsTakenAfter(registry, Date.now());
    const alone = steadyRate([aloneStream]);
    // Its first token comes from its prefill (the same prompt as the probes above); the rest from decode steps.
    const aloneComputeMs = (busyBetween(aloneBefore, aloneAfter) - median(prefillCompute)) / (aloneStream.tokenAt.length - 1);
    console.log(`  ${stages} stage(s), 1 stream: ${(1000 / alone.tokensPerSecond).toFixed(0)} ms/token, of which the stages compute ${aloneComputeMs.toFixed(0)} ms`);

    const snapshots: BusySnapshot[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const s = await busyStats(registry);
        if (s && snapshots.at(-1)?.at !== s.at) snapshots.push(s);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const together = await Promise.all(Array.from({ length: run.streams }, (_, i) => ask(200 + i, run.tokens)));
    polling = false;
    await poller;
    const batched = steadyRate(together);
    const short = together.filter((s) => s.tokenAt.length < run.tokens).length;
    console.log(
      `  ${stages} stage(s): time to first token p50 ${median(ttft).toFixed(0)} ms, ${median(beyond).toFixed(1)} ms beyond the prefill's compute; 1 stream ${alone.tokensPerSecond.toFixed(2)} tokens/s; ${run.streams} streams ${batched.tokensPerSecond.toFixed(2)} tokens/s over ${(batched.windowMs / 1000).toFixed(1)} s` +
        (short ? ` (${short} streams ended before ${run.tokens} tokens)` : ''),
    );
    return { tokensPerSecond: [alone.tokensPerSecond, batched.tokensPerSecond], ttftBeyondPrefillMs: median(beyond), idleShare: idleShares(snapshots, batched) };
  } finally {
    await closeRedis(redis);
    await cluster.stop();
  }
}

/**
 * Decode tokens/s of streams running together: the tokens that arrived while every stream was
 * decoding (after the last first token, up to the first last token), over that window.
 */
function steadyRate(streams: StreamedTokens[]): { tokensPerSecond: number; windowMs: number; from: number; to: number } {
  const from = Math.max(...streams.map((s) => s.tokenAt[0]!));
  const to = Math.min(...streams.map((s) => s.tokenAt.at(-1)!));
  if (!(to > from)) throw new Error('the streams never decoded together: ask for more --tokens');
  const count = streams.reduce((n, s) => n + s.tokenAt.filter((t) => t > from && t <= to).length, 0);
  return { tokensPerSecond: (count * 1000) / (to - from), windowMs: to - from, from, to };
}

interface BusySnapshot {
  /** Epoch ms the head took its stats at. */
  at: number;
  /** Each stage's compute time so far, by its layers. */
  stageBusyMs: Record<string, number>;
}

async function busyStats(registry: PipelineRegistry): Promise<BusySnapshot | undefined> {
  const s = (await registry.stats(PIPELINE_ID)) as { stageBusyMs?: Record<string, number>; statsAt?: number } | undefined;
  return s?.stageBusyMs && s.statsAt ? { at: s.statsAt, stageBusyMs: s.stageBusyMs } : undefined;
}

/** The stages' compute time between two snapshots, summed over the stages. */
function busyBetween(before: BusySnapshot, after: BusySnapshot): number {
  return Object.keys(after.stageBusyMs).reduce((ms, stage) => ms + after.stageBusyMs[stage]! - (before.stageBusyMs[stage] ?? 0), 0);
}

/** The head's stats from its first heartbeat at or after `epochMs` (they come once a second). */
async function statsTakenAfter(registry: PipelineRegistry, epochMs: number): Promise<BusySnapshot> {
  for (;;) {
    const s = await busyStats(registry);
    if (s && s.at >= epochMs) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Each stage's idle share over the heartbeat snapshots that fall inside the decode window. */
function idleShares(snapshots: BusySnapshot[], window: { from: number; to: number }): number[] {
  const epoch = Date.now() - performance.now();
  const inside = snapshots.filter((s) => s.at >= window.from + epoch && s.at <= window.to + epoch);
  if (inside.length < 2) {
    console.log(`  stage idle time: fewer than 2 heartbeats inside the decode window (${inside.length}); not measured`);
    return [];
  }
  const first = inside[0]!;
  const last = inside.at(-1)!;
  return Object.keys(last.stageBusyMs).map((stage) => 1 - (last.stageBusyMs[stage]! - (first.stageBusyMs[stage] ?? 0)) / (last.at - first.at));
}

