// Converting one stage of a checkpoint into a bundle (see bundle-manifest.ts). The graph is built
// with a FileSink, so each weight is read, converted (widened, quantized or repacked) and written
// before the next one is read: peak memory stays near the largest single tensor.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { GlmConfig } from '../config.ts';
import { TOKENIZER_FILE } from '../checkpoint/model-directory.ts';
import { prefillChunks, type LayerRange } from '../model/layer-ranges.ts';
import { buildStageGraph } from '../model/stage-graph.ts';
import type { ExternalSink } from '../onnx/graph-builder.ts';
import type { QuantizationOptions, StageTensors } from '../model/stage-tensors.ts';
import { DEFAULT_BLOCK_SIZE } from '../quantize/nbits-weight.ts';
import { BUNDLE_FORMAT_VERSION, BUNDLE_GRAPH, BUNDLE_MANIFEST, type BundleManifest } from './bundle-manifest.ts';
import { DEFAULT_MAX_FILE_BYTES, FileSink, type WrittenFile } from './file-sink.ts';

export interface BundleOptions {
  quantization?: QuantizationOptions;
  /** Float initializers as fp16 (default) or fp32. */
  storage?: 'float32' | 'float16';
  /** MatMulNBits accuracy_level (default 4). */
  accuracyLevel?: number;
  /** Layers per prefill chunk: one graph each (default: one graph for the whole range). */
  prefillChunkLayers?: number;
  maxFileBytes?: number;
}

export interface BundleSource {
  /** The checkpoint folder: config.json and ice_text.model are copied from it. */
  dir: string;
  config: GlmConfig;
  tensors: StageTensors;
  /** checkpointId(dir). */
  sourceId: string;
}

/** What a conversion has written so far, after each weight tensor. */
export interface BundleProgress {
  /** The tensor just written (a Hugging Face name, with a suffix for its stored form). */
  tensor: string;
  /** The layer it belongs to, when it belongs to one. */
  layer: number | undefined;
  tensors: number;
  bytes: number;
}

/**
 * Writes the bundle of `range` into `outDir` (replacing what is there). It is written into a
 * temporary folder first and renamed into place, so a reader never sees half a bundle and two
 * processes converting the same stage do not clash.
 */
export function writeStageBundle(source: BundleSource, range: LayerRange, outDir: string, options: BundleOptions = {}, onProgress?: (p: BundleProgress) => void): BundleManifest {
  const parent = path.dirname(path.resolve(outDir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(outDir)}.partial-`));
  try {
    const fileSink = new FileSink(tmp, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
    let tensors = 0;
    let bytes = 0;
    const sink: ExternalSink & { finish(): WrittenFile[] } = {
      place: (name, data) => {
        const placed = fileSink.place(name, data);
        tensors += 1;
        bytes += data.byteLength;
        const layer = /\.layers\.(\d+)\./.exec(name)?.[1];
        onProgress?.({ tensor: name, layer: layer === undefined ? undefined : Number(layer), tensors, bytes });
        return placed;
      },
      finish: () => fileSink.finish(),
    };
    const storage = options.storage ?? 'float16';
    const accuracyLevel = options.accuracyLevel ?? 4;
    // One graph per prefill chunk; they share the weight files, so a tensor two graphs use (the
    // float embedding of a stage holding both ends) is written once.
    const chunks = prefillChunks(range, options.prefillChunkLayers);
    const placements = new Map<string, ReturnType<ExternalSink['place']>>();
    const shared: ExternalSink = {
      place: (name, data) => {
        let at = placements.get(name);
        if (!at) placements.set(name, (at = sink.place(name, data)));
        return at;
      },
    };
    const graphs = chunks.map((chunk) => {
      const graph = buildStageGraph(source.config, chunk, source.tensors, { storage, accuracyLevel, kvCache: options.quantization?.kvCache ?? 'float32', kvResidence: options.quantization?.kvResidence ?? 'host', sink: shared });
      const file = chunks.length === 1 ? BUNDLE_GRAPH : chunkGraphName(chunk);
      fs.writeFileSync(path.join(tmp, file), graph.model);
      return { layers: { ...chunk }, file, model: graph.model };
    });
    const files: WrittenFile[] = [...graphs.map((g) => ({ name: g.file, bytes: g.model.byteLength, sha256: createHash('sha256').update(g.model).digest('hex') })), ...sink.finish()];
    for (const f of ['config.json', TOKENIZER_FILE]) fs.copyFileSync(path.join(source.dir, f), path.join(tmp, f));
    const content = createHash('sha256');
    for (const f of files) content.update(`${f.name}:${f.sha256}\n`);
    const manifest: BundleManifest = {
      format: 'chatglm-cluster-bundle',
      formatVersion: BUNDLE_FORMAT_VERSION,
      sourceId: source.sourceId,
      layers: { start: range.start, end: range.end },
      numLayers: source.config.numLayers,
      storage,
      quantization: manifestQuantization(options),
      graphs: graphs.map(({ layers, file }) => ({ layers, file })),
      contentHash: content.digest('hex'),
      files,
      createdAt: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(tmp, BUNDLE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(tmp, outDir);
    return manifest;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** The file of a chunk's graph in a bundle of several. */
function chunkGraphName(chunk: LayerRange): string {
  return `graph-${chunk.start}-${chunk.end}.onnx`;
}

/** How a bundle written with `options` records its quantization. */
function manifestQuantization(options: BundleOptions): BundleManifest['quantization'] {
  const q = options.quantization ?? {};
  // A host cache is not written down: bundles made before the cache could be on the device match as they are.
  const device = q.kvResidence === 'device' ? { kvResidence: 'device' as const } : {};
  return { linears: q.linears ?? 'as-stored', embedding: q.embedding ?? 'none', blockSize: q.blockSize ?? DEFAULT_BLOCK_SIZE, accuracyLevel: options.accuracyLevel ?? 4, kvCache: q.kvCache ?? 'float32', ...device };
}

/** Whether `manifest` is what writeStageBundle would write for this checkpoint, range and options (so converting again is needless). */
export function bundleMatches(manifest: BundleManifest, sourceId: string, range: LayerRange, options: BundleOptions): boolean {
  return (
    manifest.sourceId === sourceId &&
    manifest.layers.start === range.start &&
    manifest.layers.end === range.end &&
    manifest.storage === (options.storage ?? 'float16') &&
    JSON.stringify(manifest.quantization) === JSON.stringify(manifestQuantization(options)) &&
    JSON.stringify(manifest.graphs.map((g) => g.layers)) === JSON.stringify(prefillChunks(range, options.prefillChunkLayers))
  );
}

/** A short name for how a bundle was made, for cache keys and model ids. */
export function bundleVariant(options: BundleOptions): string {
  const q = options.quantization ?? {};
  // An fp32 cache adds nothing, so bundles cached before the KV cache could be fp16 keep their names.
  const kv = [...(q.kvCache === 'float16' ? ['kv16'] : []), ...(q.kvResidence === 'device' ? ['kvgpu'] : [])];
  const chunks = options.prefillChunkLayers !== undefined ? [`chunk${options.prefillChunkLayers}`] : [];
  return [q.linears ?? 'as-stored', `emb-${q.embedding ?? 'none'}`, options.storage ?? 'float16', `b${q.blockSize ?? DEFAULT_BLOCK_SIZE}`, `acc${options.accuracyLevel ?? 4}`, ...kv, ...chunks, `v${BUNDLE_FORMAT_VERSION}`].join('-');
}
