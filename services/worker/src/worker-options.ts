// Command-line options of a stage worker, parsed and checked before anything loads. Every default
// and limit lives in WORKER_DEFAULTS; the usage text is written from it, so the two cannot differ.
import { parseArgs } from 'node:util';
import { DEFAULT_PREFILL_CHUNK_LAYERS, kvCacheDefaultOn, parseLayers, quantizationFromFlags, stageRange, type BundleOptions, type LayerRange } from '@chatglm/glm';
import { DEFAULT_PREFIX } from '@chatglm/queue';
import { DEFAULT_MAX_SEQUENCES, parseStageDevice, type StageDevice } from '@chatglm/runtime';

export type ActivationDtypeName = 'float32' | 'float16';

/** The worker's defaults and limits. */
export const WORKER_DEFAULTS = Object.freeze({
  /** Listen address of a non-head stage. */
  host: '0.0.0.0',
  /** Listen port of a non-head stage; 0: any free port. */
  port: 0,
  /** Redis key prefix, shared with the gateways. */
  redisPrefix: DEFAULT_PREFIX,
  /** KV cache slots: sequences a stage holds at once. */
  maxSequences: DEFAULT_MAX_SEQUENCES,
  /** Where the stage's layers run: cpu, or webgpu (a GPU through its Vulkan driver). */
  device: 'cpu' as StageDevice,
  /** Activations between stages: float32 is exact; float16 halves the bytes on the wire. */
  activationDtype: 'float32' as ActivationDtypeName,
  /** The head's BullMQ job lock, in ms: a dead head's jobs are taken over after about this long. */
  lockDurationMs: 10_000,
  /** The shortest job lock allowed, in ms: below it a busy head would lose locks it still holds. */
  minLockDurationMs: 1_000,
  /** Times a job may stall (its head died) before BullMQ fails it for good. */
  maxStalledCount: 3,
  /**
   * A step not answered within this many ms means a hung stage: the head drops the stream and its
   * requests resume after reconnecting, and the stage's /healthz fails (so it is restarted). Long
   * enough for the longest prefill of the full model on a CPU (2,048 tokens, 28 layers).
   */
  stepTimeoutMs: 300_000,
  /** The shortest step deadline allowed, in ms. */
  minStepTimeoutMs: 500,
});

const USAGE_HEAD = `usage: chatglm-worker --model DIR [--layers A-B | --stage I --stages N] [--next HOST:PORT] [options]

One pipeline stage. The stage holding layer 0 is the pipeline head: it consumes the generate queue
in Redis and dials the next stage; every other stage listens for gRPC and dials --next.`;

const d = WORKER_DEFAULTS;
/** [flag, description] per option, in the order the usage lists them. */
const OPTION_HELP: readonly (readonly [string, string])[] = [
  ['--model DIR', 'a ChatGLM-6B checkpoint (converted into a cached bundle on first start), or a stage bundle written by `chatglm convert`'],
  ['--layers A-B', 'hold layers A..B inclusive (default: all layers)'],
  ['--stage I --stages N', 'or: stage I of N, split like load_model_on_gpus'],
  ['--next HOST:PORT', 'the next stage (required unless this stage holds the last layer)'],
  ['--host HOST', `listen address of a non-head stage's gRPC server and of /metrics (default ${d.host})`],
  ['--port PORT', `listen port of a non-head stage (default ${d.port}: any free port)`],
  ['--redis URL', 'Redis for the head (default $REDIS_URL or redis://127.0.0.1:6379)'],
  ['--redis-prefix P', `Redis key prefix, the same as the gateways' (default ${d.redisPrefix})`],
  ['--pipeline-id ID', "the pipeline's name in the head's heartbeats, in logs and in every worker's metrics (default host-pid); one live head per id: a head that starts takes back at once the jobs a dead head of its id held"],
  ['--stage-secret-file FILE', 'a shared secret (or $CHATGLM_STAGE_SECRET) every stage of the cluster is given: the stage port serves only calls that carry it (default: none)'],
  ['--metrics-port PORT', 'serve Prometheus metrics at GET /metrics on this port (0: any free port, announced in the ready line; default: not served)'],
  ['--max-sequences N', `KV cache slots: sequences served at once (default ${d.maxSequences})`],
  ['--ptuning DIR', 'a P-tuning v2 checkpoint (config.json with pre_seq_len, and the transformer.prefix_encoder.* weights): every sequence attends to its prefix; give every stage of the pipeline the same one'],
  ['--max-tokens N', "cached positions per sequence, counting a P-tuning prefix (default the model's max_sequence_length, plus the prefix's pre_seq_len)"],
  ['--kv-cache-tokens N', 'positions the KV cache holds for all sequences together, at least one sequence of --max-tokens (default: every slot at full length); below that, the head admits requests by the pages they hold, and preempts the latest (to prefill them again later) when the running ones outgrow the cache'],
  ['--micro-batches N', 'decode steps in flight at the head (default: the number of stages)'],
  ['--activation-dtype D', `float32 (exact) or float16 (half the bytes between stages) (default ${d.activationDtype})`],
  ['--quantize Q', 'int8 or int4: the layers\' linears as MatMulNBits blocks; none: float (default: as stored; THUDM int4/int8 checkpoints keep their codes)'],
  ['--quantize-embedding Q', 'none, int8 or int4: the embedding and the tied lm_head (default: as --quantize)'],
  ['--prefill-chunk-layers N', `convert the stage into graphs of N layers each: a long prompt holds up running sequences for one such chunk, not for all the layers; the extra graphs cost a decode step nothing measurable here (default ${DEFAULT_PREFILL_CHUNK_LAYERS}; N at least the stage's layer count: one graph)`],
  ['--kv-cache D', 'float16 or float32: how the KV cache keeps keys and values (default float16 with --quantize int8/int4 on the CPU, else float32)'],
  ['--weight-dtype D', "float16 or float32 for the float weights (default: the checkpoint's)"],
  ['--device D', `cpu or webgpu: run the layers on ONNX Runtime's CPU or WebGPU provider; webgpu needs a Vulkan adapter (an NVIDIA GPU with its driver) and never falls back to the CPU (default ${d.device})`],
  ['--threads N', 'ONNX Runtime threads (default: all cores)'],
  ['--no-spin', 'stop ONNX Runtime threads spinning when a step returns, so an idle stage leaves its cores to others (several stages on one machine)'],
  ['--connect-timeout-ms MS', 'how long the head waits for the rest of its pipeline (default: forever)'],
  ['--lock-duration-ms MS', `the head's job lock: a dead head's jobs are taken over after about this long (default ${d.lockDurationMs}, at least ${d.minLockDurationMs})`],
  ['--step-timeout-ms MS', `a step not answered within this long means a hung stage: the head reconnects and resumes its requests, and /healthz on the metrics port fails (default ${d.stepTimeoutMs}, at least ${d.minStepTimeoutMs})`],
  ['-h, --help', 'this text'],
];

/** Wraps each description at 100 columns beside its flag. */
function formatOptions(options: readonly (readonly [string, string])[]): string {
  const width = 28;
  return options
    .map(([flag, help]) => {
      const lines: string[] = [];
      let line = '';
      for (const word of help.split(' ')) {
        if (line && width + line.length + word.length + 1 > 100) {
          lines.push(line);
          line = word;
        } else line = line ? `${line} ${word}` : word;
      }
      lines.push(line);
      return lines.map((l, i) => (i === 0 ? `  ${flag.padEnd(width - 2)}${l}` : `${' '.repeat(width)}${l}`)).join('\n');
    })
    .join('\n');
}

export const WORKER_USAGE = `${USAGE_HEAD}\n\n${formatOptions(OPTION_HELP)}`;

/** The flags the usage documents (a test checks they are the flags the parser takes). */
export const DOCUMENTED_FLAGS: readonly string[] = OPTION_HELP.flatMap(([flag]) => [...flag.matchAll(/--[a-z-]+/g)].map((m) => m[0]));

export interface WorkerOptions {
  model: string;
  range: (numLayers: number) => LayerRange;
  /** True when --layers or --stage chose the range (a bundle must then match it). */
  layersGiven: boolean;
  /** How a raw checkpoint is converted (quantization, float storage). */
  bundle: BundleOptions;
  next?: string;
  host: string;
  port: number;
  redis?: string;
  redisPrefix: string;
  /** A P-tuning v2 checkpoint directory. */
  ptuningDir?: string;
  pipelineId?: string;
  /** Serve /metrics on this port (0: any free one); undefined: not served. */
  metricsPort?: number;
  /** The file holding the stage secret (--stage-secret-file); CHATGLM_STAGE_SECRET otherwise. */
  stageSecretFile?: string;
  maxSequences: number;
  maxTokens?: number;
  /** --kv-cache-tokens; undefined: every slot at full length. */
  kvCacheTokens?: number;
  microBatches?: number;
  activationDtype: ActivationDtypeName;
  device: StageDevice;
  threads?: number;
  spinning: boolean;
  connectTimeoutMs?: number;
  lockDurationMs: number;
  stepTimeoutMs: number;
}

export type ParsedWorkerOptions = { kind: 'ok'; options: WorkerOptions } | { kind: 'help' } | { kind: 'error'; message: string };

/** The options parseArgs takes; exported for the test that compares them with the usage. */
export const PARSE_OPTIONS = {
  model: { type: 'string' },
  layers: { type: 'string' },
  stage: { type: 'string' },
  stages: { type: 'string' },
  next: { type: 'string' },
  ptuning: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  redis: { type: 'string' },
  'redis-prefix': { type: 'string' },
  'pipeline-id': { type: 'string' },
  'metrics-port': { type: 'string' },
  'stage-secret-file': { type: 'string' },
  'max-sequences': { type: 'string' },
  'max-tokens': { type: 'string' },
  'kv-cache-tokens': { type: 'string' },
  'micro-batches': { type: 'string' },
  'activation-dtype': { type: 'string' },
  threads: { type: 'string' },
  device: { type: 'string' },
  'no-spin': { type: 'boolean' },
  'connect-timeout-ms': { type: 'string' },
  'lock-duration-ms': { type: 'string' },
  'step-timeout-ms': { type: 'string' },
  quantize: { type: 'string' },
  'quantize-embedding': { type: 'string' },
  'kv-cache': { type: 'string' },
  'prefill-chunk-layers': { type: 'string' },
  'weight-dtype': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseWorkerOptions(argv: string[]): ParsedWorkerOptions {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: PARSE_OPTIONS }));
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  try {
    if (!values.model) throw new Error('--model DIR is required');
    if (values.layers && (values.stage || values.stages)) throw new Error('give either --layers or --stage/--stages, not both');
    if ((values.stage === undefined) !== (values.stages === undefined)) throw new Error('--stage and --stages go together');
    const stage = int('stage', values.stage, 0);
    const stages = int('stages', values.stages, 1);
    if (stage !== undefined && stages !== undefined && stage >= stages) throw new Error(`--stage ${stage} is out of range for --stages ${stages} (stages count from 0)`);
    const layers = values.layers;
    const range = (numLayers: number) => {
      if (layers) return parseLayers(layers, numLayers);
      if (stage !== undefined && stages !== undefined) return stageRange(numLayers, stage, stages);
      return { start: 0, end: numLayers };
    };
    const dtype = values['activation-dtype'] ?? WORKER_DEFAULTS.activationDtype;
    if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--activation-dtype must be float32 or float16, got "${dtype}"`);
    const device = parseStageDevice(values.device ?? WORKER_DEFAULTS.device);
    if (values.next !== undefined && !/^[^\s:]+:\d+$|^\[[0-9a-f:]+\]:\d+$/i.test(values.next)) throw new Error(`--next must be HOST:PORT, got "${values.next}"`);
    const weightDtype = values['weight-dtype'];
    if (weightDtype !== undefined && weightDtype !== 'float16' && weightDtype !== 'float32') throw new Error(`--weight-dtype must be float16 or float32, got "${weightDtype}"`);
    const bundle: BundleOptions = {
      prefillChunkLayers: int('prefill-chunk-layers', values['prefill-chunk-layers'], 1) ?? DEFAULT_PREFILL_CHUNK_LAYERS,
      quantization: quantizationFromFlags({ quantize: values.quantize, quantizeEmbedding: values['quantize-embedding'], kvCache: values['kv-cache'] ?? kvCacheDefaultOn(device), device }),
      ...(weightDtype && { storage: weightDtype }),
    };
    const maxTokens = int('max-tokens', values['max-tokens'], 1);
    const kvCacheTokens = int('kv-cache-tokens', values['kv-cache-tokens'], 1);
    const microBatches = int('micro-batches', values['micro-batches'], 1);
    const threads = int('threads', values.threads, 1);
    const connectTimeoutMs = int('connect-timeout-ms', values['connect-timeout-ms'], 0);
    const metricsPort = int('metrics-port', values['metrics-port'], 0);
    if (metricsPort !== undefined && metricsPort > 65535) throw new Error(`--metrics-port must be a port number (0-65535), got "${metricsPort}"`);
    const options: WorkerOptions = {
      model: values.model,
      range,
      layersGiven: Boolean(layers || stage !== undefined),
      bundle,
      host: values.host ?? WORKER_DEFAULTS.host,
      port: int('port', values.port, 0) ?? WORKER_DEFAULTS.port,
      redisPrefix: values['redis-prefix'] ?? WORKER_DEFAULTS.redisPrefix,
      maxSequences: int('max-sequences', values['max-sequences'], 1) ?? WORKER_DEFAULTS.maxSequences,
      activationDtype: dtype,
      device,
      spinning: !values['no-spin'],
      lockDurationMs: int('lock-duration-ms', values['lock-duration-ms'], WORKER_DEFAULTS.minLockDurationMs) ?? WORKER_DEFAULTS.lockDurationMs,
      stepTimeoutMs: int('step-timeout-ms', values['step-timeout-ms'], WORKER_DEFAULTS.minStepTimeoutMs) ?? WORKER_DEFAULTS.stepTimeoutMs,
      ...(values.next !== undefined && { next: values.next }),
      ...(values.redis !== undefined && { redis: values.redis }),
      ...(values.ptuning !== undefined && { ptuningDir: values.ptuning }),
      ...(values['pipeline-id'] !== undefined && { pipelineId: values['pipeline-id'] }),
      ...(maxTokens !== undefined && { maxTokens }),
      ...(kvCacheTokens !== undefined && { kvCacheTokens }),
      ...(microBatches !== undefined && { microBatches }),
      ...(threads !== undefined && { threads }),
      ...(connectTimeoutMs !== undefined && { connectTimeoutMs }),
      ...(metricsPort !== undefined && { metricsPort }),
      ...(values['stage-secret-file'] !== undefined && { stageSecretFile: values['stage-secret-file'] }),
    };
    return { kind: 'ok', options };
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
}
