// Sharded checkpoints (safetensors and PyTorch alike): `*.index.json` maps each tensor to its shard
// in "weight_map". Its "metadata.total_size" is not trusted (ChatGLM-6B's is stale, docs/model.md §2.4).
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError } from './checkpoint-error.ts';
import type { LocatedTensor } from './located-tensors.ts';

/** Reads an index file's weight_map (tensor name -> shard file name, relative to the directory). */
export function readWeightMap(indexFile: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${indexFile}: not valid JSON: ${(err as Error).message}`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointError(`${indexFile}: no "weight_map" object`);
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    // A shard name must stay inside the directory: the index comes with a download.
    if (typeof file !== 'string' || file === '' || file !== path.basename(file)) throw new CheckpointError(`${indexFile}: weight_map["${name}"] is not a shard file name: ${JSON.stringify(file)}`);
    out.set(name, file);
  }
  return out;
}

/**
 * Reads every shard the index lists (each must exist) and checks that each listed tensor is in the
 * shard the index names. Tensors a shard holds beyond the index are kept too.
 */
export function assembleIndexedShards(
  dir: string,
  indexFile: string,
  readShard: (file: string) => Map<string, LocatedTensor>,
): Map<string, LocatedTensor> {
  const weightMap = readWeightMap(indexFile);
  const shardNames = [...new Set(weightMap.values())];
  for (const f of shardNames) {
    if (!fs.existsSync(path.join(dir, f))) throw new CheckpointError(`${indexFile} lists shard ${f}, which is missing from ${dir}`);
  }
  const shards = new Map(shardNames.map((f) => [f, readShard(path.join(dir, f))]));
  const out = new Map<string, LocatedTensor>();
  for (const tensors of shards.values()) for (const [name, t] of tensors) out.set(name, t);
  for (const [name, f] of weightMap) {
    const t = shards.get(f)?.get(name);
    if (!t) {
      const elsewhere = out.get(name);
      throw new CheckpointError(
        elsewhere
          ? `${indexFile} maps tensor "${name}" to ${f}, but it is in ${path.basename(elsewhere.file)}`
          : `${indexFile} maps tensor "${name}" to ${f}, but no shard holds it (${shardNames.length} shard(s) read)`,
      );
    }
    out.set(name, t);
  }
  return out;
}

/** Reads several unindexed files; a tensor in two of them is ambiguous. */
export function assembleFiles(files: string[], readFile: (file: string) => Map<string, LocatedTensor>): Map<string, LocatedTensor> {
  const out = new Map<string, LocatedTensor>();
  for (const f of files) {
    for (const [name, t] of readFile(f)) {
      const prev = out.get(name);
      if (prev) throw new CheckpointError(`tensor "${name}" is in both ${prev.file} and ${f}; add an index file to say which one to use`);
      out.set(name, t);
    }
  }
  return out;
}
