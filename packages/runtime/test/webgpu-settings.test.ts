// The WebGPU provider's process-wide settings: defaults, the environment's overrides, and clear
// errors for values the provider would not take.
import assert from 'node:assert/strict';
import test from 'node:test';
import { DEFAULT_MAX_PENDING_DISPATCHES, webgpuSettings } from '@chatglm/runtime';

test('webgpu settings: defaults, overrides from the environment, and errors naming the variable', () => {
  assert.deepEqual(webgpuSettings({}), { maxPendingDispatches: DEFAULT_MAX_PENDING_DISPATCHES });
  assert.deepEqual(webgpuSettings({ CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES: '16', CHATGLM_WEBGPU_VALIDATION: 'disabled' }), { maxPendingDispatches: 16, validation: 'disabled' });
  for (const bad of ['0', '4097', '1.5', 'many']) {
    assert.throws(() => webgpuSettings({ CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES: bad }), new RegExp(`CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES must be an integer from 1 to 4096, got "${bad.replace('.', '\\.')}"`));
  }
  assert.throws(() => webgpuSettings({ CHATGLM_WEBGPU_VALIDATION: 'none' }), /CHATGLM_WEBGPU_VALIDATION must be one of disabled, wgpuOnly, basic, full, got "none"/);
});
