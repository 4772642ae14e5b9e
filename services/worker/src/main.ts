// A stage worker: one process per pipeline stage (docs/architecture.md, "Processes"). The stage
// that holds layer 0 is the pipeline head (a BullMQ consumer on the generate queue); every other
// stage serves gRPC and dials the next one with --next.
import fs from 'node:fs';
import os from 'node:os';
import { announceReady, closeAll, createLogger } from '@chatglm/common';
import { checkpointId, formatLayers, readPrefixCheckpoint } from '@chatglm/glm';
import { MetricsServer, createProcessRegistry } from '@chatglm/metrics';
import { PROTOCOL_VERSION, StageClient, StageSecret, createStageServer, type ActivationDtype, type StageInfo } from '@chatglm/protocol';
import { closeRedis, connectRedis } from '@chatglm/queue';
import { ThreadedStageRuntime } from '@chatglm/runtime';
import { ChatGLMTokenizer, processResponse } from '@chatglm/tokenizer';
import { DownstreamLink } from './downstream-link.ts';
import { HeadService } from './head/head-service.ts';
import { StageMetrics } from './metrics/stage-metrics.ts';
import { resolveStage, type ResolvedStage } from './stage-bundle.ts';
import { StageService } from './stage-service.ts';
import { createStageStep } from './stage-step.ts';
import { WORKER_DEFAULTS, WORKER_USAGE, parseWorkerOptions } from './worker-options.ts';

const parsed = parseWorkerOptions(process.argv.slice(2));
if (parsed.kind === 'help') {
  console.log(WORKER_USAGE);
  process.exit(0);
}
if (parsed.kind === 'error') {
  console.error(`chatglm worker: ${parsed.message}\n\n${WORKER_USAGE}`);
  process.exit(2);
}
const opts = parsed.options;
const bootLog = createLogger('worker');
let stage: ResolvedStage;
try {
  stage = resolveStage(opts.model, opts.range, opts.layersGiven, opts.bundle, bootLog);
} catch (err) {
  console.error(`chatglm worker: ${(err as Error).message}`);
  process.exit(2);
}
const { range, config } = stage;
// A P-tuning prefix changes what every layer computes: it joins the model id, so that stages with
// and without it (or with another one) refuse to chain. Its config is read now to fail early; the
// stage's thread encodes its own layers' prefix from the same directory.
let prefixLength = 0;
let id = stage.modelId;
if (opts.ptuningDir !== undefined) {
  try {
    const checkpoint = readPrefixCheckpoint(opts.ptuningDir, config);
    prefixLength = checkpoint.config.preSeqLen;
    id = `${stage.modelId}+ptuning@${checkpointId(checkpoint.dir).replace(/^chatglm@/, '')}`;
  } catch (err) {
    console.error(`chatglm worker: --ptuning: ${(err as Error).message}`);
    process.exit(2);
  }
}
const isHead = range.start === 0;
const isLast = range.end === config.numLayers;
const log = createLogger(isHead ? 'head' : 'stage', { layers: `${range.start}-${range.end - 1}` });
if (!isLast && !opts.next) {
  console.error(`chatglm worker: ${formatLayers(range)} are not the last ones, so --next host:port (the next stage) is required`);
  process.exit(2);
}

// Metrics are served before the layers load (tens of seconds at full size), so that a scrape sees
// the process meanwhile, and the time it took once they have.
const pipelineId = opts.pipelineId ?? `${os.hostname()}-${process.pid}`;
const metricsRegistry = createProcessRegistry({ service: isHead ? 'head' : 'stage', pipeline: pipelineId, stage: `${range.start}-${range.end - 1}` });
const stageMetrics = new StageMetrics(metricsRegistry);
let metricsServer: MetricsServer | undefined;
// /readyz on the metrics port: a stage once its layers serve, a head while its whole pipeline is connected.
let ready = (): boolean => false;
// /healthz: while the layers load, the event loop answering is enough; then the runtime's thread
// must answer too (a hung step fails it, and the launcher or the orchestrator restarts the stage).
let live = async (): Promise<boolean> => true;
if (opts.metricsPort !== undefined) {
  try {
    metricsServer = await MetricsServer.listen(metricsRegistry, opts.host, opts.metricsPort, () => ready(), () => live());
  } catch (err) {
    console.error(`chatglm worker: cannot serve metrics on ${opts.host}:${opts.metricsPort}: ${(err as Error).message}`);
    process.exit(2);
  }
}
const metricsReady = metricsServer ? { metricsPort: metricsServer.port } : {};

// The stage secret: every Info and Step call between this cluster's stages carries it.
let stageSecret: string | undefined;
try {
  stageSecret = opts.stageSecretFile !== undefined ? fs.readFileSync(opts.stageSecretFile, 'utf8').trim() : process.env.CHATGLM_STAGE_SECRET?.trim() || undefined;
  if (stageSecret !== undefined) new StageSecret(stageSecret);
} catch (err) {
  console.error(`chatglm worker: ${opts.stageSecretFile !== undefined ? `--stage-secret-file ${opts.stageSecretFile}` : 'CHATGLM_STAGE_SECRET'}: ${(err as Error).message}`);
  process.exit(2);
}

const dtype: ActivationDtype = opts.activationDtype === 'float16' ? 'ACTIVATION_DTYPE_FLOAT16' : 'ACTIVATION_DTYPE_FLOAT32';
log.info('loading stage', { bundle: stage.bundleDir, modelId: id, layers: [range.start, range.end], device: opts.device, ...(opts.ptuningDir !== undefined && { ptuning: opts.ptuningDir, prefixLength }) });
const runtimeLoading = ThreadedStageRuntime.create({
  config,
  range,
  weights: { kind: 'bundle', dir: stage.bundleDir },
  maxSequences: opts.maxSequences,
  maxTokensPerSequence: opts.maxTokens ?? config.maxSequenceLength + prefixLength,
  ...(opts.kvCacheTokens !== undefined && { kvCacheTokens: opts.kvCacheTokens }),
  ...(opts.ptuningDir !== undefined && { prefix: { kind: 'checkpoint' as const, dir: opts.ptuningDir } }),
  threads: opts.threads ?? os.availableParallelism(),
  spinning: opts.spinning,
  device: opts.device,
}).catch((err: unknown) => {
  // A stage that cannot load (no usable device, a bad bundle) exits at once with the reason.
  console.error(`chatglm worker: cannot load ${formatLayers(range)} on ${opts.device}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});
// The tokenizer loads while the stage's thread loads ONNX Runtime and the layers (a restarted
// stage's streams wait for both).
const tokenizer = await ChatGLMTokenizer.load(stage.tokenizerFile);
const runtime = await runtimeLoading;
log.info('stage loaded', { layers: [range.start, range.end], device: opts.device, kvCache: runtime.info.kvOnDevice ? 'gpu' : 'host' });
// A dead runtime thread fails every step while the process would still look alive (heartbeats,
// probes): exit, so that the launcher or the orchestrator restarts the stage.
runtime.onCrash((err) => {
  log.error('the stage thread died; exiting so that the stage is restarted', { error: err });
  process.exit(1);
});
live = () => runtime.responsive(opts.stepTimeoutMs);
// performance.now() counts from the process's start: a first start's conversion is included.
stageMetrics.loaded(runtime, performance.now() / 1000);
const step = createStageStep(runtime, { inputDtype: dtype, outputDtype: dtype, vocab: tokenizer.vocab, observer: stageMetrics });
const cleanups: (() => unknown)[] = [() => metricsServer?.close()];

if (isHead) {
  const redis = connectRedis(opts.redis);
  // ioredis reconnects by itself; without a listener it prints each failed attempt as unhandled.
  redis.on('error', (err: Error) => log.debug('redis connection error', { error: err }));
  let head: HeadService | undefined;
  let link: DownstreamLink | null = null;
  let downstream: StageInfo[] = [];
  if (opts.next) {
    link = new DownstreamLink({
      address: opts.next,
      secret: stageSecret,
      head: { layerStart: range.start, layerEnd: range.end, numLayers: config.numLayers, modelId: id, protocolVersion: PROTOCOL_VERSION, hiddenSize: config.hiddenSize },
      log,
      onReply: (reply) => head?.onReply(reply),
      onLost: (error) => head?.onPipelineLost(error),
      onConnected: (stages) => {
        const other = stages.find((s) => s.activationDtype !== dtype);
        if (other) log.error('stage uses another activation dtype', { stage: other.address, theirs: other.activationDtype, ours: dtype });
        head?.onPipelineRestored();
      },
    });
    try {
      downstream = await link.connect(opts.connectTimeoutMs);
    } catch (err) {
      console.error(`chatglm worker: cannot start the pipeline: ${(err as Error).message}`);
      process.exit(2);
    }
    const mismatch = downstream.find((s) => s.activationDtype !== dtype);
    if (mismatch) {
      console.error(`chatglm worker: stage ${mismatch.address} uses ${mismatch.activationDtype} activations but this head uses ${dtype}; start every stage of a pipeline with the same --activation-dtype`);
      process.exit(2);
    }
  }
  head = await HeadService.start({
    pipelineId,
    runtime,
    step,
    downstream: link,
    downstreamStages: downstream,
    markers: tokenizer.promptMarkers,
    text: { vocab: tokenizer.vocab, decode: (ids) => tokenizer.decode(ids), processResponse },
    redis,
    redisPrefix: opts.redisPrefix,
    microBatches: opts.microBatches,
    lockDurationMs: opts.lockDurationMs,
    stepTimeoutMs: opts.stepTimeoutMs,
    maxStalledCount: WORKER_DEFAULTS.maxStalledCount,
    onStep: (report) => log.debug('step', { ...report }),
    metrics: metricsRegistry,
    log,
  });
  const started = head;
  ready = () => started.serving;
  cleanups.push(
    () => started.close(),
    () => link?.close(),
    () => closeRedis(redis),
  );
  announceReady({ service: 'head', layers: [range.start, range.end], stages: 1 + downstream.length, capacity: head.capacity, ...metricsReady });
} else {
  const next = opts.next ? new StageClient(opts.next, { secret: stageSecret }) : null;
  const info: StageInfo = {
    protocolVersion: PROTOCOL_VERSION,
    modelId: id,
    layerStart: range.start,
    layerEnd: range.end,
    numLayers: config.numLayers,
    hiddenSize: config.hiddenSize,
    activationDtype: dtype,
    maxSequences: runtime.info.maxSequences,
    maxTokensPerSequence: runtime.info.maxTokensPerSequence,
    kvPages: runtime.info.kvPages,
    kvPageSize: runtime.info.kvPageSize,
    address: '',
  };
  const service = new StageService({ info, step, next, log });
  const server = createStageServer({ info: () => service.info(), step: (stream) => service.serve(stream) }, { ...(stageSecret !== undefined && { secret: stageSecret }) });
  const port = await server.listen(opts.host, opts.port);
  info.address = `${opts.host === '0.0.0.0' ? os.hostname() : opts.host}:${port}`;
  server.setServing(true);
  ready = () => true;
  cleanups.push(
    () => server.close(),
    () => next?.close(),
  );
  log.info('stage serving', { port });
  announceReady({ service: 'stage', port, layers: [range.start, range.end], ...metricsReady });
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  await closeAll([...cleanups, () => runtime.close()]).catch((err: unknown) => log.warn('cleanup failed', { error: err }));
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
