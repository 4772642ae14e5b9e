// The device check dry-runs as a lent GPU machine would run it: the payload is packed (at xz level 0,
// which keeps the layout and is quick), then scripts/gpu-check unpacks its own Node, ONNX Runtime
// and Vulkan loader (GPU_CHECK_AS_BARE=1) and runs every part at the small shape under SwiftShader.
// The figures are SwiftShader's and mean nothing for a GPU; what this shows is that the check runs
// to the end and reports golden parity, so that the first lent device gives figures, not errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { webgpuMissing } from './support/stage-devices.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

interface Report {
  shape: string;
  figures: { part: string; name: string; measured: number; unit: string; reference?: { name: string; value: number } }[];
}

test('scripts/gpu-check: the packed check runs every part at the small shape, golden parity included', { skip: webgpuMissing, timeout: 600_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-check-test-'));
  try {
    const payload = path.join(dir, 'payload');
    const out = path.join(dir, 'out');
    const env = { ...process.env, GPU_CHECK_PAYLOAD: payload, GPU_CHECK_AS_BARE: '1', OUT: out };
    const build = spawnSync(path.join(ROOT, 'scripts/gpu-check'), ['build', '--xz-level', '0'], { env, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr + build.stdout);
    for (const f of ['gpu-check.mjs', 'node.xz', 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz']) {
      assert.ok(fs.existsSync(path.join(payload, f)), `the payload holds ${f}`);
    }
    for (const pkg of ['libvulkan1', 'libglvnd0', 'libglx0']) assert.ok(fs.readdirSync(payload).some((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb')), `the payload holds ${pkg}'s .deb`);

    // Run from another folder: the check must not depend on the repository's node_modules.
    const run = spawnSync(path.join(ROOT, 'scripts/gpu-check'), ['--shape', 'small', '--variants', 'int4,int4-acc0-products'], { env, cwd: dir, encoding: 'utf8' });
    const output = run.stdout + run.stderr;
    assert.equal(run.status, 0, output);
    assert.match(output, /golden parity on the GPU: max \|error\|/);
    assert.match(output, /the GPU against the CPU at head size 128 .*decode attention as MultiHeadAttention/);
    assert.match(output, /the GPU against the CPU at head size 128 .*decode attention as products/);
    assert.match(output, /device check done/);

    const report = JSON.parse(fs.readFileSync(path.join(out, 'gpu-check.json'), 'utf8')) as Report;
    assert.equal(report.shape, 'small');
    const golden = report.figures.find((f) => f.part === 'golden');
    assert.ok(golden && golden.measured < 5e-4, `golden parity: ${JSON.stringify(golden)}`);
    const parts = new Set(report.figures.map((f) => f.part));
    for (const part of ['device', 'kv-cache', 'decode-int4', 'decode-int4-acc0-products']) assert.ok(parts.has(part), `the report has ${part} figures: ${[...parts].join(', ')}`);
    for (const f of report.figures) assert.ok(Number.isFinite(f.measured) && f.measured >= 0, `${f.part} / ${f.name}: ${f.measured}`);
    assert.equal(report.figures.filter((f) => f.part === 'decode-int4').length, 3, 'single stream, batched and 2-stage figures');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
