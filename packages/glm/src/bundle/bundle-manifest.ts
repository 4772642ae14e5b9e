// A bundle: one pipeline stage ready to load. A folder holding its graph (`graph.onnx`, or one graph
// per prefill chunk of its layers, `graph-START-END.onnx`, all reading the same weight files), its
// weight files, the model's `config.json` and `ice_text.model` (so a worker needs nothing else), and
// `bundle.json`, this manifest, which says what the bundle holds and how it was made.
import fs from 'node:fs';
import path from 'node:path';
import { ChatGlmError } from '@chatglm/common';
import type { LayerRange } from '../model/layer-ranges.ts';
import type { KvCacheDtype, Quantization } from '../model/stage-tensors.ts';
import type { WrittenFile } from './file-sink.ts';

export const BUNDLE_MANIFEST = 'bundle.json';
export const BUNDLE_GRAPH = 'graph.onnx';
/** Bumped when the graph or the layout changes, so stale bundles are rebuilt rather than loaded. */
// 2: the KV cache is paged (the graph takes pools of pages and a page table, not slabs per slot).
// 3: a webgpu stage's graph reads its whole cache, new rows included, through MultiHeadAttention
// (one `attention_bias` input instead of `past_bias` and `self_bias`); a CPU stage's is unchanged,
// but one number covers every bundle.
export const BUNDLE_FORMAT_VERSION = 3;

export interface BundleManifest {
  format: 'chatglm-cluster-bundle';
  formatVersion: number;
  /** Identity of the source weights (see checkpointId). */
  sourceId: string;
  /** Layers [start, end) of `numLayers`. */
  layers: { start: number; end: number };
  numLayers: number;
  /** How float initializers are stored. */
  storage: 'float32' | 'float16';
  /**
   * kvCache: how the graph takes and gives cached keys and values (absent in bundles written before
   * it existed: float32). kvResidence: 'device' when the graph keeps the cache on the GPU (bundles
   * converted for webgpu stages); absent, the host keeps it.
   */
  quantization: { linears: Quantization | 'as-stored'; embedding: Quantization; blockSize: number; accuracyLevel: number; kvCache: KvCacheDtype; kvResidence?: 'device' };
  /**
   * The stage's graphs in layer order, each for a chunk of its layers (one graph for all of them
   * unless converted with a prefill chunk size; bundles written before chunks existed have
   * `graph.onnx` alone, and read so).
   */
  graphs: { layers: LayerRange; file: string }[];
  /** sha256 over the hashes of the graphs and every weights file, in order. */
  contentHash: string;
  files: WrittenFile[];
  createdAt: string;
}

export class BundleError extends ChatGlmError {
  constructor(message: string) {
    super('invalid_bundle', message);
  }
}

export function isBundleDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, BUNDLE_MANIFEST));
}

/** Reads and checks a bundle's manifest: format, version, and that every file is there with its size. */
export function readBundleManifest(dir: string): BundleManifest {
  const file = path.join(dir, BUNDLE_MANIFEST);
  let m: BundleManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleManifest;
  } catch (err) {
    throw new BundleError(`${file} is missing or not valid JSON: ${(err as Error).message}`);
  }
  if (m.format !== 'chatglm-cluster-bundle') throw new BundleError(`${file} is not a chatglm-cluster bundle manifest`);
  if (m.formatVersion !== BUNDLE_FORMAT_VERSION) throw new BundleError(`${file} has bundle format ${m.formatVersion}; this version reads ${BUNDLE_FORMAT_VERSION}: convert the model again`);
  // Bundles written before the KV cache could be fp16 have fp32 graphs and no field for it.
  m.quantization = { ...m.quantization, kvCache: m.quantization?.kvCache ?? 'float32' };
  m.graphs ??= [{ layers: { ...m.layers }, file: BUNDLE_GRAPH }];
  for (const f of m.files) {
    const p = path.join(dir, f.name);
    const size = fs.existsSync(p) ? fs.statSync(p).size : -1;
    if (size !== f.bytes) throw new BundleError(`${p} ${size < 0 ? 'is missing' : `is ${size} bytes, the manifest says ${f.bytes} (truncated or replaced?)`}`);
  }
  return m;
}
