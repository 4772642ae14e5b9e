// `--device webgpu` on a machine without a usable Vulkan adapter stops the worker at start-up with
// a message naming what is missing; nothing falls back to the CPU.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeTinyModel } from '../../cli/src/default-model.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-device-'));
const model = path.join(tmp, 'model');

before(async () => {
  fs.mkdirSync(model);
  await writeTinyModel(model);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, CHATGLM_CACHE_DIR: path.join(tmp, 'cache'), ...env } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.resume();
  child.stdin?.end();
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

test('a worker on --device webgpu without a Vulkan driver exits 2 naming the missing driver', async () => {
  const r = await run('services/worker/src/main.ts', ['--model', model, '--device', 'webgpu', '--host', '127.0.0.1'], { VK_ICD_FILENAMES: path.join(tmp, 'no-such-icd.json') });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /cannot load layers 0-3 on webgpu: --device webgpu needs a Vulkan adapter .* no Vulkan driver is registered \(no ICD manifest in VK_ICD_FILENAMES=.*no-such-icd\.json\)/);
});

test('chatglm chat --device webgpu says the same and exits 1; a bad --device value is refused', async () => {
  const chat = await run('services/cli/src/main.ts', ['chat', '--model', model, '--device', 'webgpu'], { VK_ICD_FILENAMES: path.join(tmp, 'no-such-icd.json') });
  assert.equal(chat.code, 1, chat.stderr);
  assert.match(chat.stderr, /no Vulkan driver is registered/);
  const bad = await run('services/worker/src/main.ts', ['--model', model, '--device', 'cuda'], {});
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--device must be cpu or webgpu, got "cuda"/);
});
