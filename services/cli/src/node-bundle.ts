// Bundles TypeScript entry points into plain ES modules that Node runs without a loader: the code
// and the packages it imports in one file each, onnxruntime-node left outside (a native addon that
// finds its shared library beside itself). esbuild comes with tsx (a dependency already); only its
// build() is used. Used by the launcher (its processes start from bundles, see
// up/process-bundles.ts) and by the device check's payload (bench/gpu-check/build-payload.ts).
import { createRequire } from 'node:module';

/** The part of esbuild's API used here. */
interface EsbuildPlugin {
  name: string;
  setup(build: {
    onResolve(o: { filter: RegExp }, f: (a: { path: string }) => { path: string; external: boolean } | undefined): void;
    onLoad(o: { filter: RegExp }, f: (a: { path: string }) => Promise<{ contents: string; loader: 'ts' }>): void;
  }): void;
}
interface EsbuildResult {
  metafile?: { inputs: Record<string, unknown> };
}
interface Esbuild {
  build(options: Record<string, unknown>): Promise<EsbuildResult>;
}

export type { EsbuildPlugin };

export interface NodeBundleOptions {
  /** Output name (without extension) -> entry file. */
  entryPoints: Record<string, string>;
  outdir: string;
  /** Where the bundles import onnxruntime-node from: its package name, or an absolute path. */
  onnxRuntime: string;
  /** Global identifiers replaced by these JSON values. */
  define?: Record<string, unknown>;
  plugins?: EsbuildPlugin[];
  /** Write source maps (.mjs.map, without the sources' text) for --enable-source-maps. */
  sourceMaps?: boolean;
}

/** Builds `<outdir>/<name>.mjs` per entry; returns the files the bundles were made of (relative to the working directory). */
export async function bundleForNode(o: NodeBundleOptions): Promise<string[]> {
  const esbuild = createRequire(createRequire(import.meta.url).resolve('tsx'))('esbuild') as Esbuild;
  const onnxRuntime: EsbuildPlugin = {
    name: 'onnxruntime-outside',
    setup(build) {
      build.onResolve({ filter: /^onnxruntime-node$/ }, () => ({ path: o.onnxRuntime, external: true }));
    },
  };
  const result = await esbuild.build({
    entryPoints: o.entryPoints,
    outdir: o.outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    plugins: [onnxRuntime, ...(o.plugins ?? [])],
    define: Object.fromEntries(Object.entries(o.define ?? {}).map(([k, v]) => [k, JSON.stringify(v)])),
    ...(o.sourceMaps ? { sourcemap: 'linked', sourcesContent: false } : {}),
    // Bundled CommonJS packages call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'warning',
  });
  return Object.keys(result.metafile?.inputs ?? {});
}
