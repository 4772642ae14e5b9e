// `chatglm convert`: a checkpoint into one bundle per pipeline stage (graph + weights, quantized or
// not), which workers then load in seconds with `--model OUT/stage-I-of-N`.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ChatGlmError } from '@chatglm/common';
import fs from 'node:fs';
import { DEFAULT_PREFILL_CHUNK_LAYERS, ConversionProgress, bundleMatches, checkpointId, isBundleDir, readBundleManifest, checkpointStorage, checkpointTensors, quantizationFromFlags, readModelDirectory, splitLayers, stageBundleName, writeStageBundle, type BundleOptions, type LayerRange } from '@chatglm/glm';
import { parseStageDevice } from '@chatglm/runtime';
import { ProgressDisplay } from './progress-display.ts';

export const CONVERT_USAGE = `usage: chatglm convert --model DIR --out DIR [--stages N] [--quantize int8|int4] [options]

Writes OUT/stage-I-of-N/ for each stage: graph.onnx, its weights files, bundle.json (layers, dtype,
quantization, content hash) and copies of config.json and ice_text.model.

  --model DIR               a ChatGLM-6B checkpoint (safetensors)
  --out DIR                 where the bundles go
  --stages N                pipeline stages, split like load_model_on_gpus (default 1)
  --stage I                 convert only stage I (from 0) of the N (e.g. one pod's own stage)
  --if-missing              leave a stage whose bundle is already there, from this checkpoint
                            with these options (an init step that runs on every start)
  --quantize Q              int8 or int4: the layers' linears as MatMulNBits blocks of 128
                            (default: as stored; none: float)
  --quantize-embedding Q    none, int8 or int4: the embedding and the tied lm_head
                            (default: as --quantize)
  --kv-cache D              float16 or float32: how the stages' graphs take and give cached keys
                            and values (default float16 with --quantize int8/int4, else float32)
  --prefill-chunk-layers N  one graph per N layers of each stage: a long prompt holds up running
                            replies for one such chunk, not for all the layers (default 4; N at
                            least a stage's layer count: one graph)
  --dtype D                 float16 or float32 for the float weights (default: the checkpoint's)
  --device D                cpu or webgpu: the stages the bundles are for; webgpu graphs keep the
                            KV cache on the GPU and write it themselves (default cpu, whose
                            bundles a webgpu stage also runs, its cache then in host memory)`;

function chunkLayers(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ChatGlmError('invalid_argument', `--prefill-chunk-layers must be a positive integer, got "${value}"`);
  return n;
}

export async function convert(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      stages: { type: 'string' },
      stage: { type: 'string' },
      'if-missing': { type: 'boolean' },
      quantize: { type: 'string' },
      'quantize-embedding': { type: 'string' },
      'kv-cache': { type: 'string' },
      'prefill-chunk-layers': { type: 'string' },
      dtype: { type: 'string' },
      device: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(CONVERT_USAGE);
    return;
  }
  if (!values.model || !values.out) throw new ChatGlmError('invalid_argument', `--model and --out are required\n\n${CONVERT_USAGE}`);
  const stages = Number(values.stages ?? '1');
  if (!Number.isInteger(stages) || stages < 1) throw new ChatGlmError('invalid_argument', `--stages must be a positive integer, got "${values.stages}"`);
  const only = values.stage === undefined ? undefined : Number(values.stage);
  if (only !== undefined && (!Number.isInteger(only) || only < 0 || only >= stages)) throw new ChatGlmError('invalid_argument', `--stage must be a stage of the ${stages} (0..${stages - 1}), got "${values.stage}"`);
  if (values.dtype !== undefined && values.dtype !== 'float16' && values.dtype !== 'float32') throw new ChatGlmError('invalid_argument', `--dtype must be float16 or float32, got "${values.dtype}"`);
  const model = readModelDirectory(values.model);
  const options: BundleOptions = {
    quantization: quantizationFromFlags({ quantize: values.quantize, quantizeEmbedding: values['quantize-embedding'], kvCache: values['kv-cache'], device: parseStageDevice(values.device ?? 'cpu') }),
    storage: (values.dtype as 'float16' | 'float32' | undefined) ?? checkpointStorage(model.dir),
    prefillChunkLayers: values['prefill-chunk-layers'] !== undefined ? chunkLayers(values['prefill-chunk-layers']) : DEFAULT_PREFILL_CHUNK_LAYERS,
  };
  const sourceId = checkpointId(model.dir);
  const tensors = checkpointTensors(model, options.quantization);
  const started = performance.now();
  let total = 0;
  for (const [i, range] of splitLayers(model.config.numLayers, stages).entries()) {
    if (only !== undefined && i !== only) continue;
    const out = path.join(values.out, stageBundleName(i, stages));
    if (values['if-missing'] && isBundleDir(out)) {
      if (sameConversion(out, sourceId, range, options)) {
        console.log(`${out}: layers ${range.start}-${range.end - 1}, already converted from this checkpoint with these options`);
        continue;
      }
      console.log(`${out}: holds another conversion (another checkpoint, layers or options); converting again`);
    } else if (values['if-missing'] && fs.existsSync(out)) console.log(`${out}: not a complete bundle; converting again`);
    const t0 = performance.now();
    const progress = new ConversionProgress(model.config, range, { quantization: options.quantization, startedAt: t0 });
    const display = new ProgressDisplay(`stage ${i + 1} of ${stages}`);
    let manifest;
    try {
      manifest = writeStageBundle({ dir: model.dir, config: model.config, tensors, sourceId }, range, out, options, (p) => display.show(progress.update(p)));
    } finally {
      display.end();
    }
    const bytes = manifest.files.reduce((a, f) => a + f.bytes, 0);
    total += bytes;
    console.log(`${out}: layers ${range.start}-${range.end - 1}, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${manifest.files.length} files, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const peakRss = process.resourceUsage().maxRSS * 1024; // the kernel's high-water mark, in KiB
  console.log(`converted ${model.dir} (${sourceId}) in ${((performance.now() - started) / 1000).toFixed(1)} s: ${(total / 2 ** 30).toFixed(2)} GiB of bundles; peak RSS ${(peakRss / 2 ** 30).toFixed(2)} GiB`);
}

/** Whether the bundle in `dir` is this conversion's; a damaged manifest is not. */
function sameConversion(dir: string, sourceId: string, range: LayerRange, options: BundleOptions): boolean {
  try {
    return bundleMatches(readBundleManifest(dir), sourceId, range, options);
  } catch {
    return false;
  }
}
