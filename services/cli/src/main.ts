// The `chatglm` command (`pnpm chatglm <command>`).
import { parseArgs } from 'node:util';
import { ChatGlmError } from '@chatglm/common';
import type { SamplingParams } from '@chatglm/generation';
import { kvCacheDefaultOn, quantizationFromFlags } from '@chatglm/glm';
import { parseStageDevice } from '@chatglm/runtime';
import { runChat } from './chat-command.ts';
import { ensureDefaultModel } from './default-model.ts';
import { openLocalModel } from './local-model.ts';
import { convert } from './convert-command.ts';
import { up } from './up-command.ts';

const USAGE = `usage: chatglm up [options]      start the local cluster (see chatglm up --help)
       chatglm convert [options] write per-stage bundles (see chatglm convert --help)
       chatglm chat [options]

Chat with ChatGLM-6B in the terminal (like the original cli_demo.py).

options:
  --model DIR              a ChatGLM-6B directory (config.json, ice_text.model, *.safetensors);
                           default: the embedded tiny model (random weights: gibberish replies)
  --ptuning DIR            a P-tuning v2 checkpoint of the model (config.json with pre_seq_len, and
                           its transformer.prefix_encoder.* weights, .bin or safetensors; default none)
  --quantize Q             int8 or int4: the layers' linears as MatMulNBits blocks (default: as stored)
  --quantize-embedding Q   none, int8 or int4: the embedding and the tied lm_head (default: as
                           --quantize)
  --kv-cache D             float16 or float32: how the KV cache keeps keys and values (default
                           float16 with --quantize int8/int4 on the CPU, else float32)
  --layers-per-stage N     split the layers into in-process stages of N layers (default: one stage)
  --max-length N           total tokens, prompt + reply (default 2048)
  --top-p P                nucleus sampling mass (default 0.7)
  --temperature T          sampling temperature; 0 = greedy (default 0.95)
  --seed N                 make replies reproducible (default: random per reply)
  --threads N              ONNX Runtime threads per stage (default: all cores)
  --device D               cpu or webgpu: where the layers run (default cpu; webgpu needs a Vulkan
                           adapter, e.g. an NVIDIA GPU with its driver)
  -h, --help               this text`;

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ChatGlmError('invalid_argument', `--${name} must be a positive integer, got "${v}"`);
  return n;
}

function number(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ChatGlmError('invalid_argument', `--${name} must be a number, got "${v}"`);
  return n;
}

function parseSeed(v: string): bigint {
  if (!/^\d+$/.test(v)) throw new ChatGlmError('invalid_argument', `--seed must be a non-negative integer, got "${v}"`);
  return BigInt(v);
}

async function chat(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      ptuning: { type: 'string' },
      quantize: { type: 'string' },
      'quantize-embedding': { type: 'string' },
      'kv-cache': { type: 'string' },
      'layers-per-stage': { type: 'string' },
      'max-length': { type: 'string' },
      'top-p': { type: 'string' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      device: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const device = parseStageDevice(values.device ?? 'cpu');
  const maxLength = positiveInt('max-length', values['max-length']);
  const topP = number('top-p', values['top-p']);
  const temperature = number('temperature', values.temperature);
  const seed = values.seed === undefined ? undefined : parseSeed(values.seed);
  const params: Partial<SamplingParams> = {
    ...(maxLength !== undefined && { maxLength }),
    ...(topP !== undefined && { topP }),
    ...(temperature !== undefined && { temperature }),
    ...(seed !== undefined && { seed }),
  };

  const modelDir = values.model ?? (await ensureDefaultModel());
  const started = performance.now();
  const model = await openLocalModel({
    modelDir,
    layersPerStage: positiveInt('layers-per-stage', values['layers-per-stage']),
    maxTokens: maxLength,
    threads: positiveInt('threads', values.threads),
    device,
    ...(values.ptuning !== undefined && { prefixDir: values.ptuning }),
    quantization: quantizationFromFlags({ quantize: values.quantize, quantizeEmbedding: values['quantize-embedding'], kvCache: values['kv-cache'] ?? kvCacheDefaultOn(device), device }),
  });
  const stages = model.chain.stages.map((s) => `[${s.info.range.start}, ${s.info.range.end})`).join(' ');
  console.error(`loaded ${model.dir} in ${((performance.now() - started) / 1000).toFixed(1)} s on ${device}: ${model.config.numLayers} layers, hidden ${model.config.hiddenSize}; stages ${stages}${model.prefix ? `; P-tuning prefix of ${model.prefix.length} from ${model.prefix.dir}` : ''}${values.model ? '' : ' (embedded default model: random weights, gibberish replies)'}`);
  try {
    await runChat(model, { params });
  } finally {
    await model.close();
  }
}

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = { chat, up, convert };

const [command, ...rest] = process.argv.slice(2);
if (command === '--help' || command === '-h' || command === 'help') {
  console.log(USAGE);
  process.exit(0);
}
const run = command ? COMMANDS[command] : undefined;
if (!run) {
  console.error(command ? `unknown command "${command}"\n\n${USAGE}` : USAGE);
  process.exit(2);
}
try {
  await run(rest);
} catch (err) {
  if (err instanceof ChatGlmError || (err instanceof Error && 'code' in err)) {
    console.error(`chatglm ${command}: ${err.message}`);
    process.exit(1);
  }
  throw err;
}
