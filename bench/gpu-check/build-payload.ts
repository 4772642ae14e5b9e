// Packs the device check for a machine that has a GPU and nothing else: no Node, no network, no
// node_modules, at most 64 MiB brought along. The payload folder (default .gpu-check/, ignored by
// git) holds:
//
//   gpu-check.mjs                       the check and the whole repository code it uses, one file
//   node_modules/onnxruntime-node/      the package's JavaScript, its binding, libonnxruntime.so.1.xz
//   node_modules/onnxruntime-common/    what onnxruntime-node imports
//   node.xz                             this Node binary, compressed (unless --without-node)
//   libvulkan1_*.deb                    the Vulkan loader, for a machine without one
//   libglvnd0_*.deb, libglx0_*.deb ...  glvnd, which NVIDIA's Vulkan driver needs beside it
//
// scripts/gpu-check unpacks what the machine lacks and runs gpu-check.mjs. xz shrinks Node
// (99 MB) and ONNX Runtime (46 MB) to about 37 MB together.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleForNode } from '../../services/cli/src/node-bundle.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Debian packages the check unpacks where the machine lacks them: the Vulkan loader, and glvnd for NVIDIA's driver. */
const PAYLOAD_DEBS = ['libvulkan1', 'libglvnd0', 'libglx0', 'libgl1', 'libegl1', 'libopengl0', 'libgles2'];
/** What the device takes along, in all (the repository's tracked files travel too, about 3 MB). */
const LIMIT_BYTES = 60 * 2 ** 20;

function xz(source: string, target: string, level: string): void {
  execFileSync('sh', ['-c', `xz -T0 -${level} -c "$0" > "$1"`, source, target], { stdio: 'inherit' });
}

function copyTree(from: string, to: string, keep: (relative: string) => boolean): void {
  for (const entry of fs.readdirSync(from, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const source = path.join(entry.parentPath, entry.name);
    const relative = path.relative(from, source);
    if (!keep(relative)) continue;
    fs.mkdirSync(path.dirname(path.join(to, relative)), { recursive: true });
    fs.copyFileSync(source, path.join(to, relative));
  }
}

function folderBytes(dir: string): number {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + fs.statSync(path.join(e.parentPath, e.name)).size, 0);
}

export async function buildPayload(argv: string[]): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: path.join(ROOT, '.gpu-check') },
      'without-node': { type: 'boolean', default: false },
      // 9 for the device (smallest); 0 for a test, which only needs the layout (fast).
      'xz-level': { type: 'string', default: '9' },
    },
  });
  const out = path.resolve(values.out);
  const level = values['xz-level'];
  if (!/^[0-9]$/.test(level)) throw new Error(`--xz-level must be 0-9, got "${level}"`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });

  // The check, bundled: onnxruntime-node stays outside (a native addon that loads its library by path).
  const runtimeRequire = createRequire(path.join(ROOT, 'packages/runtime/package.json'));
  await bundleForNode({ entryPoints: { 'gpu-check': path.join(ROOT, 'bench/gpu-check/gpu-check.ts') }, outdir: out, onnxRuntime: 'onnxruntime-node' });

  const ortDir = path.dirname(runtimeRequire.resolve('onnxruntime-node/package.json'));
  // pnpm puts a package's dependencies beside it (onnxruntime-common exports no package.json to resolve).
  const commonDir = path.join(path.dirname(fs.realpathSync(ortDir)), 'onnxruntime-common');
  if (!fs.existsSync(path.join(commonDir, 'package.json'))) throw new Error(`onnxruntime-common not found beside ${ortDir}; run pnpm install`);
  const binDir = 'bin/napi-v6/linux/x64';
  const ortOut = path.join(out, 'node_modules/onnxruntime-node');
  copyTree(ortDir, ortOut, (r) => r === 'package.json' || (r.startsWith(`dist${path.sep}`) && (r.endsWith('.js') || r.endsWith('package.json'))) || r === path.join(binDir, 'onnxruntime_binding.node'));
  copyTree(commonDir, path.join(out, 'node_modules/onnxruntime-common'), (r) => r === 'package.json' || (r.startsWith(`dist${path.sep}`) && (r.endsWith('.js') || r.endsWith('package.json'))));
  xz(path.join(ortDir, binDir, 'libonnxruntime.so.1'), path.join(ortOut, binDir, 'libonnxruntime.so.1.xz'), level);

  if (!values['without-node']) xz(process.execPath, path.join(out, 'node.xz'), level);

  // The Vulkan loader and glvnd's libraries as .debs, unpacked (not installed) where the machine
  // lacks them: NVIDIA's Vulkan driver (libGLX_nvidia.so.0) offers no vkCreateInstance without
  // glvnd beside it (seen on a lent H200: "Could not get 'vkCreateInstance' via
  // 'vk_icdGetInstanceProcAddr'"), though nothing it links names glvnd.
  const cached = path.join(ROOT, '.cache/debs');
  fs.mkdirSync(cached, { recursive: true });
  for (const pkg of PAYLOAD_DEBS) {
    if (!fs.readdirSync(cached).some((f) => f.startsWith(`${pkg}_`))) execFileSync('apt-get', ['download', pkg], { cwd: cached, stdio: 'inherit' });
    for (const f of fs.readdirSync(cached).filter((f) => f.startsWith(`${pkg}_`))) fs.copyFileSync(path.join(cached, f), path.join(out, f));
  }

  const bytes = folderBytes(out);
  console.log(`device check payload: ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
  if (bytes > LIMIT_BYTES) throw new Error(`the payload is ${(bytes / 2 ** 20).toFixed(1)} MiB, over the ${LIMIT_BYTES / 2 ** 20} MiB a device call can carry`);
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  await buildPayload(process.argv.slice(2));
}
