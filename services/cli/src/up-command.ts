// `chatglm up` (and ./scripts/start): the whole cluster on this machine.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ChatGlmError } from '@chatglm/common';
import { quantizationFromFlags, readConvertedStages } from '@chatglm/glm';
import { parseStageDevice } from '@chatglm/runtime';
import { ensureDefaultModel } from './default-model.ts';
import { LocalCluster } from './up/local-cluster.ts';

export const UP_USAGE = `usage: chatglm up [options]

Starts the local cluster: redis-server (unless REDIS_URL is set), the gateway and pipelines of
stage workers, and supervises them (a crashed process is restarted; Ctrl-C stops everything).

options:
  --model DIR            a ChatGLM-6B directory (config.json, ice_text.model, *.safetensors),
                         or the --out folder of \`chatglm convert\` (each stage loads its bundle);
                         default: the embedded tiny model (random weights: gibberish replies)
  --stages N             stages per pipeline (default 2; for converted bundles, their number)
  --pipelines P          pipelines consuming the one queue (default 1)
  --port PORT            gateway port (default 8000)
  --host HOST            gateway address (default 127.0.0.1: this machine only; 0.0.0.0 serves
                         every network, best with --api-keys)
  --api-keys FILE        API keys the gateway asks generation requests for, one per line
                         (or CHATGLM_API_KEYS=k1,k2; default: none, no authentication)
  --max-sequences N      sequences each pipeline runs at once (default 8)
  --kv-cache-tokens N    positions each stage's KV cache holds for all its sequences together
                         (default: every sequence at the model's full length); below that a
                         pipeline admits requests by the pages they hold and preempts the
                         latest (prefilled again later) when they outgrow the cache
  --threads N            ONNX Runtime threads per stage (default: cores / pipelines; a
                         pipeline's stages mostly take turns, and idle ones do not spin)
  --device D             cpu or webgpu: where every stage runs its layers (default cpu; webgpu
                         needs a Vulkan adapter, e.g. an NVIDIA GPU with its driver)
  --quantize Q           int8 or int4: quantize the layers' linears (MatMulNBits) when the workers
                         convert the checkpoint into their cached bundles (default: as stored)
  --quantize-embedding Q none, int8 or int4: the embedding and the tied lm_head (default: as
                         --quantize)
  --kv-cache D           float16 or float32: how the KV cache keeps keys and values (default
                         float16 with --quantize int8/int4 on the CPU, else float32)
  --prefill-chunk-layers N
                         run each stage's layers as graphs of N layers: a long prompt holds up
                         running replies for one such chunk, not for all the layers (default 4)
  --redis-port PORT      port of the redis-server it starts (default 6379, or a free port when
                         6379 is taken); REDIS_URL=redis://… uses that Redis instead
  -h, --help             this text`;

function positiveInt(name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ChatGlmError('invalid_argument', `--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

/** The workers' conversion flags, checked here so that a typo fails before anything starts. */
function conversionArgs(flags: { quantize: string | undefined; quantizeEmbedding: string | undefined; kvCache: string | undefined; prefillChunkLayers: string | undefined }): string[] {
  quantizationFromFlags(flags);
  const { quantize, quantizeEmbedding, kvCache, prefillChunkLayers } = flags;
  if (prefillChunkLayers !== undefined) positiveInt('prefill-chunk-layers', prefillChunkLayers);
  return [
    ...(quantize !== undefined ? ['--quantize', quantize] : []),
    ...(quantizeEmbedding !== undefined ? ['--quantize-embedding', quantizeEmbedding] : []),
    ...(kvCache !== undefined ? ['--kv-cache', kvCache] : []),
    ...(prefillChunkLayers !== undefined ? ['--prefill-chunk-layers', prefillChunkLayers] : []),
  ];
}

export async function up(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      stages: { type: 'string' },
      pipelines: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'api-keys': { type: 'string' },
      'max-sequences': { type: 'string' },
      'kv-cache-tokens': { type: 'string' },
      threads: { type: 'string' },
      'redis-port': { type: 'string' },
      quantize: { type: 'string' },
      'quantize-embedding': { type: 'string' },
      'kv-cache': { type: 'string' },
      'prefill-chunk-layers': { type: 'string' },
      device: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(UP_USAGE);
    return;
  }
  const modelDir = values.model ?? (await ensureDefaultModel());
  if ((values.quantize !== undefined || values['quantize-embedding'] !== undefined || values['kv-cache'] !== undefined || values['prefill-chunk-layers'] !== undefined) && readConvertedStages(modelDir)) {
    throw new ChatGlmError('invalid_argument', `${modelDir} holds converted bundles, quantized when they were converted: drop --quantize/--quantize-embedding/--kv-cache/--prefill-chunk-layers, or pass them to \`chatglm convert\``);
  }
  const cluster = new LocalCluster({
    modelDir,
    ...(values.stages !== undefined && { stages: positiveInt('stages', values.stages) }),
    pipelines: positiveInt('pipelines', values.pipelines) ?? 1,
    port: positiveInt('port', values.port, 0) ?? 8000,
    host: values.host ?? '127.0.0.1',
    ...(process.env.REDIS_URL && { redisUrl: process.env.REDIS_URL }),
    ...(values['max-sequences'] && { maxSequences: positiveInt('max-sequences', values['max-sequences']) }),
    ...(values['kv-cache-tokens'] && { kvCacheTokens: positiveInt('kv-cache-tokens', values['kv-cache-tokens']) }),
    ...(values.threads && { threads: positiveInt('threads', values.threads) }),
    ...(values['redis-port'] && { redisPort: positiveInt('redis-port', values['redis-port']) }),
    ...(values['api-keys'] !== undefined && { gatewayArgs: ['--api-keys', path.resolve(values['api-keys'])] }),
    workerArgs: [...conversionArgs({ quantize: values.quantize, quantizeEmbedding: values['quantize-embedding'], kvCache: values['kv-cache'], prefillChunkLayers: values['prefill-chunk-layers'] }), ...(values.device ? ['--device', parseStageDevice(values.device)] : [])],
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`\n[launcher] ${signal}: stopping the cluster`);
    await cluster.stop();
    console.error('[launcher] stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  console.error(`[launcher] starting the cluster on ${modelDir}${values.model ? '' : ' (embedded default model: random weights, gibberish replies)'}`);
  await cluster.start();
  const lines = cluster.describe().map((p) => `  ${p.name.padEnd(22)} pid ${String(p.pid ?? '-').padEnd(8)} ${p.detail}`);
  const metrics = cluster.metricsTargets().map((t) => `  ${t.name.padEnd(22)} ${t.url}`);
  console.log(`chatglm-cluster is up:\n${lines.join('\n')}\n\nPrometheus metrics:\n${metrics.join('\n')}\n\nTry:\n  curl -s ${cluster.gatewayUrl}/ -H 'Content-Type: application/json' -d '{"prompt": "你好", "history": []}'\n\nCtrl-C stops everything.`);
  await new Promise(() => undefined); // serve until a signal arrives
}
