// The WebGPU provider's process-wide settings (defaults, the environment's overrides, clear errors
// for values the provider would not take), and what a machine without an adapter is told.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { DEFAULT_MAX_PENDING_DISPATCHES, explainMissingAdapter, webgpuSettings } from '@chatglm/runtime';

test('webgpu settings: defaults, overrides from the environment, and errors naming the variable', () => {
  assert.deepEqual(webgpuSettings({}), { maxPendingDispatches: DEFAULT_MAX_PENDING_DISPATCHES });
  assert.deepEqual(webgpuSettings({ CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES: '16', CHATGLM_WEBGPU_VALIDATION: 'disabled' }), { maxPendingDispatches: 16, validation: 'disabled' });
  for (const bad of ['0', '4097', '1.5', 'many']) {
    assert.throws(() => webgpuSettings({ CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES: bad }), new RegExp(`CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES must be an integer from 1 to 4096, got "${bad.replace('.', '\\.')}"`));
  }
  assert.throws(() => webgpuSettings({ CHATGLM_WEBGPU_VALIDATION: 'none' }), /CHATGLM_WEBGPU_VALIDATION must be one of disabled, wgpuOnly, basic, full, got "none"/);
});

test('no adapter behind NVIDIA\'s Vulkan driver: the message names glvnd, which that driver needs beside it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-vulkan-'));
  try {
    fs.writeFileSync(path.join(dir, 'libvulkan.so.1'), '');
    fs.writeFileSync(path.join(dir, 'nvidia_icd.json'), '{}');
    const message = explainMissingAdapter('Failed to get a WebGPU adapter: No supported adapters', { LD_LIBRARY_PATH: dir, VK_ICD_FILENAMES: path.join(dir, 'nvidia_icd.json') });
    assert.match(message, /offer no adapter WebGPU can use .*glvnd's libraries .*apt-get install libglvnd0 libglx0 libegl1/);
    fs.writeFileSync(path.join(dir, 'other_icd.json'), '{}');
    assert.doesNotMatch(explainMissingAdapter('No supported adapters', { LD_LIBRARY_PATH: dir, VK_ICD_FILENAMES: path.join(dir, 'other_icd.json') }), /glvnd/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
