// What `chatglm convert --stages N` writes: one bundle per pipeline stage, `stage-I-of-N/`, in one
// folder. A launcher given that folder starts each stage on its bundle (seconds, no conversion).
import fs from 'node:fs';
import path from 'node:path';
import { BundleError, isBundleDir, readBundleManifest, type BundleManifest } from './bundle-manifest.ts';

/** The folder of stage `index` (from 0) of `stages` inside a conversion's output. */
export function stageBundleName(index: number, stages: number): string {
  return `stage-${index}-of-${stages}`;
}

export interface ConvertedStage {
  /** The stage's bundle folder (absolute). */
  dir: string;
  manifest: BundleManifest;
}

const STAGE_FOLDER = /^stage-(\d+)-of-(\d+)$/;

/**
 * The stages of a conversion's output folder, in pipeline order, or undefined when `dir` holds no
 * `stage-I-of-N` folders. Throws when they do not make one pipeline: several N, a stage missing,
 * stages of different checkpoints or conversions, or layer ranges that do not follow each other.
 */
export function readConvertedStages(dir: string): ConvertedStage[] | undefined {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) return undefined;
  const found = fs.readdirSync(abs).flatMap((name) => {
    const m = STAGE_FOLDER.exec(name);
    return m && isBundleDir(path.join(abs, name)) ? [{ name, index: Number(m[1]), of: Number(m[2]) }] : [];
  });
  if (found.length === 0) return undefined;
  const counts = [...new Set(found.map((f) => f.of))];
  if (counts.length > 1) throw new BundleError(`${abs} holds conversions for ${counts.sort().join(' and ')} stages; keep one (convert into an empty --out folder)`);
  const stages = counts[0]!;
  const out: ConvertedStage[] = [];
  for (let i = 0; i < stages; i++) {
    const stageDir = path.join(abs, stageBundleName(i, stages));
    if (!isBundleDir(stageDir)) throw new BundleError(`${abs} has no ${stageBundleName(i, stages)}: the conversion is incomplete`);
    out.push({ dir: stageDir, manifest: readBundleManifest(stageDir) });
  }
  const first = out[0]!.manifest;
  for (const [i, s] of out.entries()) {
    const { manifest: m } = s;
    if (m.sourceId !== first.sourceId || m.storage !== first.storage || JSON.stringify(m.quantization) !== JSON.stringify(first.quantization)) {
      throw new BundleError(`${s.dir} was converted from another checkpoint or with other options than ${out[0]!.dir}`);
    }
    const start = i === 0 ? 0 : out[i - 1]!.manifest.layers.end;
    const end = i === out.length - 1 ? m.numLayers : m.layers.end;
    if (m.layers.start !== start || m.layers.end !== end) {
      throw new BundleError(`${s.dir} holds layers ${m.layers.start}-${m.layers.end - 1}; stage ${i} of ${stages} should start at ${start}${i === out.length - 1 ? ` and end at ${m.numLayers - 1}` : ''}`);
    }
  }
  return out;
}
