// `chatglm convert --stage I --if-missing`: one pod's init step, run on every start, converts its own
// stage once and leaves it alone after, unless the checkpoint or the options changed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readBundleManifest } from '@chatglm/glm';
import { writeTinyModel } from '../src/default-model.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-convert-stage-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function convert(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', 'convert', ...args], { cwd: ROOT, encoding: 'utf8' });
}

test('--stage converts one stage; --if-missing then leaves it, and converts again when the options change', async () => {
  const model = path.join(tmp, 'model');
  fs.mkdirSync(model);
  await writeTinyModel(model);
  const out = path.join(tmp, 'bundles');
  const first = convert('--model', model, '--out', out, '--stages', '2', '--stage', '1', '--if-missing');
  assert.equal(first.status, 0, first.stderr);
  assert.deepEqual(fs.readdirSync(out), ['stage-1-of-2'], 'only the stage asked for');
  const created = readBundleManifest(path.join(out, 'stage-1-of-2')).createdAt;

  const again = convert('--model', model, '--out', out, '--stages', '2', '--stage', '1', '--if-missing');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /stage-1-of-2: layers 2-3, already converted from this checkpoint with these options/);
  assert.equal(readBundleManifest(path.join(out, 'stage-1-of-2')).createdAt, created, 'the bundle was left alone');

  const requantized = convert('--model', model, '--out', out, '--stages', '2', '--stage', '1', '--if-missing', '--quantize', 'int8');
  assert.equal(requantized.status, 0, requantized.stderr);
  assert.match(requantized.stdout, /holds another conversion .*; converting again/);
  assert.equal(readBundleManifest(path.join(out, 'stage-1-of-2')).quantization.linears, 'int8');
});

test('--stage outside the pipeline is refused with the range', () => {
  const r = convert('--model', path.join(tmp, 'model'), '--out', path.join(tmp, 'x'), '--stages', '2', '--stage', '2');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--stage must be a stage of the 2 \(0\.\.1\), got "2"/);
});
