// The bundles `chatglm up` starts its workers and gateway from: built once, reused while every file
// they hold is unchanged, built again when one changes; each runs as plain Node; and the worker's
// main thread does not load ONNX Runtime (its stage thread does), which kept a restarted stage's
// streams waiting.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { processBundles } from '../src/up/process-bundles.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-bundles-test-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('bundles are reused while their files are unchanged, and built again when one changed', async () => {
  let builds = 0;
  const first = await processBundles({ root, onBuild: () => builds++ });
  assert.equal(builds, 1);
  assert.ok(fs.existsSync(first.worker) && fs.existsSync(first.gateway));
  assert.equal((await processBundles({ root, onBuild: () => builds++ })).dir, first.dir, 'unchanged sources: the same bundles');
  assert.equal(builds, 1, 'and no build');
  // As if a source file had changed since the bundles were built.
  const inputsFile = path.join(first.dir, 'inputs.json');
  const inputs = JSON.parse(fs.readFileSync(inputsFile, 'utf8')) as Record<string, string>;
  const someSource = Object.keys(inputs).find((f) => f.endsWith(path.join('services', 'worker', 'src', 'main.ts')));
  assert.ok(someSource, 'the worker bundle records its entry among its files');
  fs.writeFileSync(inputsFile, JSON.stringify({ ...inputs, [someSource]: 'another content' }));
  const rebuilt = await processBundles({ root });
  assert.notEqual(rebuilt.dir, first.dir, 'a changed file: bundles built again');
});

test('the bundles run under plain Node; the worker loads ONNX Runtime only in its stage thread', async () => {
  const bundles = await processBundles({ root });
  for (const [name, file] of [['worker', bundles.worker], ['gateway', bundles.gateway]] as const) {
    const usage = execFileSync(process.execPath, [file, '--help'], { encoding: 'utf8' });
    assert.match(usage, /usage|Usage/, `the ${name} bundle prints its usage`);
  }
  const topLevelImports = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('import ') && l.includes('onnxruntime-node'));
  assert.deepEqual(topLevelImports(bundles.worker), [], "the worker's main thread does not import onnxruntime-node");
  assert.ok(topLevelImports(path.join(bundles.dir, 'stage-thread.mjs')).length > 0, 'the stage thread does');
});
