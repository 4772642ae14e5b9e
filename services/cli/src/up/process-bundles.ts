// The launcher starts its workers and its gateway from bundles (plain ES modules, see
// ../node-bundle.ts) instead of from TypeScript under tsx: a worker is then ready to load its
// stage in about 0.7 s instead of about 3 s on the development VM, and a restarted stage is what a
// single pipeline's streams wait for after a crash (issue 12: a stream continues within 3 s of a
// stage's death). The bundles are built once and cached under the cache root, keyed by the content
// of every file they were made of; any change to one of those files builds them again (in about
// 2 s) on the next start.
//
// Each module of a bundle keeps seeing its own source location in import.meta (the gateway's web
// page, the .proto files and the default model are found beside the sources). The stage thread's
// entry is bundled too, and the worker bundle is told where it is (CHATGLM_STAGE_THREAD_BUNDLE).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cacheRoot } from '@chatglm/common';
import { bundleForNode, type EsbuildPlugin } from '../node-bundle.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..', '..');
const ENTRIES = {
  worker: path.join(ROOT, 'services', 'worker', 'src', 'main.ts'),
  gateway: path.join(ROOT, 'services', 'gateway', 'src', 'main.ts'),
  'stage-thread': path.join(ROOT, 'packages', 'runtime', 'src', 'thread', 'stage-thread.ts'),
};
/** How the bundles are made: a change to these files builds them again too. */
const RECIPE = [import.meta.filename, path.join(import.meta.dirname, '..', 'node-bundle.ts')];
const INPUTS_FILE = 'inputs.json';
/** Bundles not used for this long are deleted when a new set is built. */
const UNUSED_FOR_MS = 7 * 24 * 3600_000;

export interface ProcessBundles {
  /** The folder of this set of bundles. */
  dir: string;
  worker: string;
  gateway: string;
}

/** The cached bundles of the current sources, built first if there are none (`onBuild` is told, since that takes seconds). */
export async function processBundles(o: { root?: string; onBuild?: () => void } = {}): Promise<ProcessBundles> {
  const root = o.root ?? path.join(cacheRoot(), 'process-bundles');
  fs.mkdirSync(root, { recursive: true });
  const hashes = new Map<string, string | undefined>();
  const current = (file: string) => {
    if (!hashes.has(file)) hashes.set(file, contentHash(file));
    return hashes.get(file);
  };
  const sets = bundleSets(root);
  const fresh = sets.find((s) => Object.entries(s.inputs).every(([file, hash]) => current(file) === hash));
  if (fresh) {
    markUsed(fresh.dir);
    return located(fresh.dir);
  }
  o.onBuild?.();
  const dir = await build(root);
  for (const s of sets) if (Date.now() - s.usedAt > UNUSED_FOR_MS) fs.rmSync(s.dir, { recursive: true, force: true });
  return located(dir);
}

/** Keeps a set from being deleted as unused while a cluster still starts processes from it. */
export function markUsed(dir: string): void {
  const now = new Date();
  try {
    fs.utimesSync(path.join(dir, INPUTS_FILE), now, now);
  } catch {
    // deleted meanwhile: the start that follows fails with Node's own message, naming the file
  }
}

function located(dir: string): ProcessBundles {
  return { dir, worker: path.join(dir, 'worker.mjs'), gateway: path.join(dir, 'gateway.mjs') };
}

async function build(root: string): Promise<string> {
  const dir = path.join(root, `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`);
  const runtimeRequire = createRequire(path.join(ROOT, 'packages', 'runtime', 'package.json'));
  const inputs = await bundleForNode({
    entryPoints: ENTRIES,
    outdir: dir,
    onnxRuntime: runtimeRequire.resolve('onnxruntime-node'),
    define: { CHATGLM_STAGE_THREAD_BUNDLE: pathToFileURL(path.join(dir, 'stage-thread.mjs')).href },
    plugins: [sourceLocations],
    sourceMaps: true,
  });
  const files = [...inputs.map((f) => path.resolve(f)), ...RECIPE];
  const record = Object.fromEntries(files.map((f) => [f, contentHash(f)]));
  // Written last, and whole (rename): a set without it is still being built, and is not used.
  const temp = path.join(dir, `${INPUTS_FILE}.${process.pid}`);
  fs.writeFileSync(temp, JSON.stringify(record));
  fs.renameSync(temp, path.join(dir, INPUTS_FILE));
  return dir;
}

interface BundleSet {
  dir: string;
  inputs: Record<string, string>;
  usedAt: number;
}

/** The complete sets under `root`, the most recently used first. */
function bundleSets(root: string): BundleSet[] {
  const sets: BundleSet[] = [];
  for (const name of fs.readdirSync(root)) {
    const file = path.join(root, name, INPUTS_FILE);
    try {
      sets.push({ dir: path.join(root, name), inputs: JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>, usedAt: fs.statSync(file).mtimeMs });
    } catch {
      // still being built, or not a set
    }
  }
  return sets.sort((a, b) => b.usedAt - a.usedAt);
}

function contentHash(file: string): string | undefined {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('base64url');
  } catch {
    return undefined;
  }
}

/** Replaces import.meta.dirname, .filename and .url in each source file with its own location. */
const sourceLocations: EsbuildPlugin = {
  name: 'source-locations',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (a) => {
      const source = await fs.promises.readFile(a.path, 'utf8');
      const contents = source
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(a.path)))
        .replaceAll('import.meta.filename', JSON.stringify(a.path))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(a.path).href));
      return { contents, loader: 'ts' };
    });
  },
};
