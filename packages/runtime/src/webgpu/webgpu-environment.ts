// What ONNX Runtime's WebGPU provider needs from the machine, and a diagnosis when it is missing.
// The provider runs on Dawn, which on Linux drives a Vulkan adapter: the Vulkan loader
// (libvulkan.so.1) must be installed, a Vulkan driver (an ICD: NVIDIA's, or SwiftShader on a
// machine without a GPU) must be registered, and the driver must offer an adapter Dawn accepts.
// ONNX Runtime itself only says "No supported adapters"; this says which of the three is missing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where the Vulkan loader looks for driver manifests when no variable names them. */
const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d'];
/** Where the loader library usually lives (plus LD_LIBRARY_PATH). */
const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

/** SwiftShader's manifest in Debian's chromium package: a CPU Vulkan driver Dawn accepts (tests, CI). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface VulkanEnvironment {
  /** The Vulkan loader library found, or null. */
  loader: string | null;
  /** Driver manifests the loader will read: those VK_ICD_FILENAMES / VK_DRIVER_FILES name, else the standard folders' ones. */
  drivers: string[];
  /** Where the drivers were looked for, for messages. */
  driverSource: string;
}

export function vulkanEnvironment(env: NodeJS.ProcessEnv = process.env): VulkanEnvironment {
  const libraryDirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LIBRARY_DIRS];
  const loader = libraryDirs.map((dir) => path.join(dir, 'libvulkan.so.1')).find((file) => fs.existsSync(file)) ?? null;
  const named = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  if (named) {
    const files = named.split(':').filter(Boolean);
    return { loader, drivers: files.filter((f) => fs.existsSync(f)), driverSource: `${env.VK_DRIVER_FILES ? 'VK_DRIVER_FILES' : 'VK_ICD_FILENAMES'}=${named}` };
  }
  const dirs = [...ICD_DIRS, path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'vulkan', 'icd.d')];
  const drivers = dirs.flatMap((dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f)) : []));
  return { loader, drivers, driverSource: dirs.join(', ') };
}

/**
 * Why no WebGPU adapter is available, in words a user can act on: the first missing piece
 * (loader, driver, adapter), with `ortMessage` (what ONNX Runtime said) when all pieces seem there.
 */
export function explainMissingAdapter(ortMessage: string, env: NodeJS.ProcessEnv = process.env): string {
  const v = vulkanEnvironment(env);
  const head = '--device webgpu needs a Vulkan adapter for ONNX Runtime\'s WebGPU provider, and there is none';
  if (!v.loader) return `${head}: the Vulkan loader (libvulkan.so.1) is not installed (looked in LD_LIBRARY_PATH and ${LIBRARY_DIRS.join(', ')}); install it (Debian/Ubuntu: apt-get install libvulkan1)`;
  if (v.drivers.length === 0) {
    return `${head}: no Vulkan driver is registered (no ICD manifest in ${v.driverSource}). On an NVIDIA GPU install the driver with its Vulkan ICD (nvidia_icd.json) or point VK_ICD_FILENAMES at it; without a GPU, SwiftShader works for testing (apt-get install chromium; VK_ICD_FILENAMES=${SWIFTSHADER_ICD})`;
  }
  // Seen on a lent H200: NVIDIA's driver loaded but offered no instance until glvnd was installed.
  const nvidia = v.drivers.some((d) => /nvidia/i.test(path.basename(d)))
    ? "; NVIDIA's Vulkan driver also needs glvnd's libraries beside it (Debian/Ubuntu: apt-get install libglvnd0 libglx0 libegl1), without which the loader says it could not get 'vkCreateInstance'"
    : '';
  return `${head}: the Vulkan driver(s) ${v.drivers.join(', ')} (loader ${v.loader}) offer no adapter WebGPU can use (${ortMessage.trim()}). Check the GPU is visible to this process (in a container: the NVIDIA runtime and its graphics capability)${nvidia}; Mesa's lavapipe is not accepted`;
}

/** True when an ONNX Runtime error says WebGPU found no adapter (rather than, say, a bad graph). */
export function isMissingAdapterError(message: string): boolean {
  return /Failed to get a WebGPU adapter|No supported adapters|RequestAdapter/i.test(message);
}

/** True when an ONNX Runtime error says the WebGPU adapter cannot run fp16 shaders (SwiftShader cannot). */
export function isMissingF16Error(message: string): boolean {
  return /requires f16 but the device does not support it/i.test(message);
}

/** What to do when a graph with fp16 tensors (an fp16 KV cache) meets an adapter without fp16 shaders. */
export function explainMissingF16(ortMessage: string): string {
  return `this stage's graph keeps its KV cache in fp16, and the WebGPU adapter cannot compute in fp16 (${ortMessage.trim()}): run it with an fp32 cache (--kv-cache float32, which chatglm convert takes too), or on an adapter with the shader-f16 feature (NVIDIA GPUs have it; SwiftShader does not)`;
}
