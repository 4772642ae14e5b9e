// Command-line options of a stage worker, parsed and checked before anything loads.
import { parseArgs } from 'node:util';
import { parseQuantization, type BundleOptions, type Quantization } from '@chatglm/glm';
import { parseLayers, stageRange } from '@chatglm/protocol';

export const WORKER_USAGE = `usage: chatglm-worker --model DIR [--layers A-B | --stage I --stages N] [--next HOST:PORT] [options]

One pipeline stage. The stage holding layer 0 is the pipeline head: it consumes the generate queue
in Redis and dials the next stage; every other stage listens for gRPC and dials --next.

  --model DIR               a ChatGLM-6B checkpoint (converted into a cached bundle on first start),
                            or a stage bundle written by \`chatglm convert\`
  --layers A-B              hold layers A..B inclusive (default: all layers)
  --stage I --stages N      or: stage I of N, split like load_model_on_gpus
  --next HOST:PORT          the next stage (required unless this stage holds the last layer)
  --host HOST               listen address of a non-head stage (default 0.0.0.0)
  --port PORT               listen port of a non-head stage (default 0: any free port)
  --redis URL               Redis for the head (default $REDIS_URL or redis://127.0.0.1:6379)
  --prefix P                Redis key prefix (default chatglm)
  --pipeline-id ID          the head's name in heartbeats and logs (default host-pid)
  --max-sequences N         KV cache slots: sequences served at once (default 8)
  --ptuning DIR             a P-tuning v2 checkpoint (config.json with pre_seq_len, and the
                            transformer.prefix_encoder.* weights as *.safetensors): every sequence
                            attends to its prefix; give every stage of the pipeline the same one
  --max-tokens N            cached positions per sequence, counting a P-tuning prefix (default the
                            model's max_sequence_length, plus the prefix's pre_seq_len)
  --micro-batches N         decode steps in flight at the head (default: the number of stages)
  --activation-dtype D      float32 (exact, default) or float16 (half the bytes between stages)
  --quantize Q              int8 or int4: the layers' linears as MatMulNBits blocks; none: float
                            (default: as stored; THUDM int4/int8 checkpoints keep their codes)
  --quantize-embedding Q    int8 or int4: also the embedding and the tied lm_head (default none)
  --weight-dtype D          float16 or float32 for the float weights (default: the checkpoint's)
  --threads N               ONNX Runtime threads (default: all cores)
  --no-spin                 keep idle ONNX Runtime threads from spinning (several stages on one machine)
  --connect-timeout-ms MS   how long the head waits for the rest of its pipeline (default: forever)
  --lock-duration-ms MS     the head's job lock: a dead head's jobs are taken over after about
                            this long (default 10000)`;

export interface WorkerOptions {
  model: string;
  range: (numLayers: number) => { start: number; end: number };
  /** True when --layers or --stage chose the range (a bundle must then match it). */
  layersGiven: boolean;
  /** How a raw checkpoint is converted (quantization, float storage). */
  bundle: BundleOptions;
  next?: string;
  host: string;
  port: number;
  redis?: string;
  prefix?: string;
  /** A P-tuning v2 checkpoint directory (--ptuning; --prefix is the Redis key prefix). */
  ptuningDir?: string;
  pipelineId?: string;
  maxSequences: number;
  maxTokens?: number;
  microBatches?: number;
  activationDtype: 'float32' | 'float16';
  threads?: number;
  spinning: boolean;
  connectTimeoutMs?: number;
  lockDurationMs?: number;
}

export type ParsedWorkerOptions = { kind: 'ok'; options: WorkerOptions } | { kind: 'help' } | { kind: 'error'; message: string };

export function parseWorkerOptions(argv: string[]): ParsedWorkerOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        layers: { type: 'string' },
        stage: { type: 'string' },
        stages: { type: 'string' },
        next: { type: 'string' },
        ptuning: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        redis: { type: 'string' },
        prefix: { type: 'string' },
        'pipeline-id': { type: 'string' },
        'max-sequences': { type: 'string' },
        'max-tokens': { type: 'string' },
        'micro-batches': { type: 'string' },
        'activation-dtype': { type: 'string' },
        threads: { type: 'string' },
        'no-spin': { type: 'boolean' },
        'connect-timeout-ms': { type: 'string' },
        'lock-duration-ms': { type: 'string' },
        quantize: { type: 'string' },
        'quantize-embedding': { type: 'string' },
        'weight-dtype': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
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
    const dtype = values['activation-dtype'] ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--activation-dtype must be float32 or float16, got "${dtype}"`);
    if (values.next !== undefined && !/^[^\s:]+:\d+$|^\[[0-9a-f:]+\]:\d+$/i.test(values.next)) throw new Error(`--next must be HOST:PORT, got "${values.next}"`);
    const quantization = (flag: string, v: string | undefined): Quantization | undefined => (v === undefined ? undefined : parseQuantization(v, flag));
    const linears = quantization('quantize', values.quantize);
    const embedding = quantization('quantize-embedding', values['quantize-embedding']);
    const weightDtype = values['weight-dtype'];
    if (weightDtype !== undefined && weightDtype !== 'float16' && weightDtype !== 'float32') throw new Error(`--weight-dtype must be float16 or float32, got "${weightDtype}"`);
    const bundle: BundleOptions = {
      quantization: { ...(linears && { linears }), ...(embedding && { embedding }) },
      ...(weightDtype && { storage: weightDtype }),
    };
    const options: WorkerOptions = {
      model: values.model,
      range,
      layersGiven: Boolean(layers || stage !== undefined),
      bundle,
      host: values.host ?? '0.0.0.0',
      port: int('port', values.port, 0) ?? 0,
      maxSequences: int('max-sequences', values['max-sequences'], 1) ?? 8,
      activationDtype: dtype,
      spinning: !values['no-spin'],
      ...(values.next !== undefined && { next: values.next }),
      ...(values.redis !== undefined && { redis: values.redis }),
      ...(values.ptuning !== undefined && { ptuningDir: values.ptuning }),
      ...(values.prefix !== undefined && { prefix: values.prefix }),
      ...(values['pipeline-id'] !== undefined && { pipelineId: values['pipeline-id'] }),
    };
    const maxTokens = int('max-tokens', values['max-tokens'], 1);
    const microBatches = int('micro-batches', values['micro-batches'], 1);
    const threads = int('threads', values.threads, 1);
    const connectTimeoutMs = int('connect-timeout-ms', values['connect-timeout-ms'], 0);
    if (maxTokens !== undefined) options.maxTokens = maxTokens;
    if (microBatches !== undefined) options.microBatches = microBatches;
    if (threads !== undefined) options.threads = threads;
    if (connectTimeoutMs !== undefined) options.connectTimeoutMs = connectTimeoutMs;
    const lockDurationMs = int('lock-duration-ms', values['lock-duration-ms'], 1000);
    if (lockDurationMs !== undefined) options.lockDurationMs = lockDurationMs;
    return { kind: 'ok', options };
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
}
