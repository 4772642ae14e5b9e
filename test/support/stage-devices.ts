// The devices engine tests run on: the CPU always, and WebGPU through whatever Vulkan driver the
// machine has, SwiftShader (a CPU Vulkan driver from Debian's chromium package) when it has no GPU.
// Without any, the WebGPU variants are skipped with the reason in the test output; under CI
// (CI=true), where ./scripts/test installs SwiftShader, a missing driver fails instead.
import { SWIFTSHADER_ICD, vulkanEnvironment, type StageDevice } from '@chatglm/runtime';
import fs from 'node:fs';

/** Why WebGPU cannot run here, or false when it can (VK_ICD_FILENAMES is then set for this process and its children). */
export const webgpuMissing: string | false = (() => {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  const v = vulkanEnvironment();
  const missing = !v.loader ? 'no Vulkan loader (apt-get install libvulkan1)' : v.drivers.length === 0 ? `no Vulkan driver (apt-get install chromium for SwiftShader at ${SWIFTSHADER_ICD})` : false;
  if (missing && process.env.CI) throw new Error(`WebGPU tests need a Vulkan driver under CI: ${missing}`);
  return missing ? `WebGPU not testable here: ${missing}` : false;
})();

export interface DeviceCase {
  device: StageDevice;
  /** A reason to skip, printed in the test output; false to run. */
  skip: string | false;
}

export const STAGE_DEVICES: readonly DeviceCase[] = [
  { device: 'cpu', skip: false },
  { device: 'webgpu', skip: webgpuMissing },
];
