// A head refuses, at start-up and with a clear message, a pipeline whose stages leave a gap or
// serve another model.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { READY_MARKER } from '@chatglm/common';
import { writeTinyModel } from '../../cli/src/default-model.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'services', 'worker', 'src', 'main.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-chain-'));
const modelA = path.join(tmp, 'a');
const modelB = path.join(tmp, 'b');
const children: ReturnType<typeof spawn>[] = [];

before(async () => {
  fs.mkdirSync(modelA);
  fs.mkdirSync(modelB);
  await writeTinyModel(modelA);
  await writeTinyModel(modelB, { replies: 'random' }); // other weights: another model id
});
after(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

function worker(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...process.env, CHATGLM_CACHE_DIR: path.join(tmp, 'cache') } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = async (): Promise<{ port: number }> => {
    while (!out.includes(READY_MARKER)) {
      if (child.exitCode !== null) throw new Error(`worker exited: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return JSON.parse(out.slice(out.indexOf(READY_MARKER) + READY_MARKER.length + 1).split('\n')[0] as string) as { port: number };
  };
  return { exited, ready, stderr: () => err };
}

test('a gap between the head and the next stage is refused, naming the missing layers', async () => {
  const stage = worker(['--model', modelA, '--layers', '3-3', '--host', '127.0.0.1']);
  const { port } = await stage.ready();
  const head = worker(['--model', modelA, '--layers', '0-1', '--next', `127.0.0.1:${port}`, '--redis', 'redis://127.0.0.1:1']);
  assert.equal(await head.exited, 2);
  assert.match(head.stderr(), /cannot start the pipeline: .*layer 2 is not served/);
});

test('a stage of another model is refused', async () => {
  const stage = worker(['--model', modelB, '--layers', '2-3', '--host', '127.0.0.1']);
  const { port } = await stage.ready();
  const head = worker(['--model', modelA, '--layers', '0-1', '--next', `127.0.0.1:${port}`, '--redis', 'redis://127.0.0.1:1']);
  assert.equal(await head.exited, 2);
  assert.match(head.stderr(), /cannot start the pipeline: .*model/);
});

test('bad flags are explained', async () => {
  const noNext = worker(['--model', modelA, '--layers', '0-1']);
  assert.equal(await noNext.exited, 2);
  assert.match(noNext.stderr(), /--next host:port \(the next stage\) is required/);
  const badStage = worker(['--model', modelA, '--stage', '2', '--stages', '2']);
  assert.equal(await badStage.exited, 2);
  assert.match(badStage.stderr(), /--stage 2 is out of range for --stages 2/);
});

test('the model id follows the weights, not the folder', async () => {
  const { checkpointId: modelId } = await import('@chatglm/glm');
  const copy = path.join(tmp, 'copy-of-a');
  fs.cpSync(modelA, copy, { recursive: true });
  assert.equal(modelId(copy), modelId(modelA));
  assert.notEqual(modelId(modelB), modelId(modelA));
});
