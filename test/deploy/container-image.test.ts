// The container image, as far as it can be tested without a container engine (none runs here): the
// Dockerfile's shape, and a production install (pnpm install --prod, as the Dockerfile's build stage
// runs it) from a clean clone of the committed tree running every program the image runs, a stage
// worker loading ONNX Runtime's native library included.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { writeTinyModel } from '../../services/cli/src/default-model.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const ENTRYPOINT = 'deploy/docker/entrypoint.sh';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-image-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the Dockerfile: two stages, production dependencies only, the Vulkan loader and glvnd, a numeric non-root user, the entry point the chart runs', () => {
  assert.equal(dockerfile.match(/^FROM /gm)?.length, 2, 'an install stage and a run stage');
  assert.match(dockerfile, /pnpm install --prod --frozen-lockfile/);
  assert.match(dockerfile, /apt-get install -y --no-install-recommends libvulkan1 libglvnd0 libglx0 libegl1 /, 'the Vulkan loader, and glvnd for NVIDIA\'s Vulkan driver');
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
  assert.ok(user && Number(user[1]) > 0, 'a numeric user other than root, which Kubernetes can check for runAsNonRoot');
  assert.match(dockerfile, new RegExp(`ENTRYPOINT \\[.*"/app/${ENTRYPOINT}"\\]`));
  assert.ok((fs.statSync(path.join(ROOT, ENTRYPOINT)).mode & 0o111) !== 0, 'the entry point is executable');
  const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['**/node_modules', '.tools', '.git']) assert.ok(ignored.includes(p), `.dockerignore leaves out ${p}`);
});

function pnpmBinary(): string {
  const local = path.join(ROOT, '.tools', 'bin', 'pnpm');
  return fs.existsSync(local) ? local : 'pnpm';
}

test('a production install from a clean clone runs the gateway, a worker and chatglm convert through the entry point', async () => {
  const clone = path.join(tmp, 'clone');
  const cloned = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', ROOT, clone], { encoding: 'utf8' });
  assert.equal(cloned.status, 0, cloned.stderr);
  const install = spawnSync(pnpmBinary(), ['install', '--prod', '--frozen-lockfile', '--prefer-offline', '--reporter=silent'], { cwd: clone, encoding: 'utf8' });
  assert.equal(install.status, 0, install.stderr + install.stdout);
  // Only production dependencies: the tools of development and tests are absent.
  const installed = fs.readdirSync(path.join(clone, 'node_modules', '.pnpm'));
  for (const dev of ['typescript@', 'openai@', 'testcontainers@', 'kubernetes-models@']) assert.ok(!installed.some((p) => p.startsWith(dev)), `${dev} is not installed`);
  assert.ok(installed.some((p) => p.startsWith('onnxruntime-node@')), 'onnxruntime-node is installed');

  const run = (...args: string[]) => spawnSync('sh', [ENTRYPOINT, ...args], { cwd: clone, encoding: 'utf8' });
  for (const [args, usage] of [[['gateway', '--help'], /usage: chatglm-gateway/], [['worker', '--help'], /--metrics-port/], [['convert', '--help'], /usage: chatglm convert/], [['--help'], /convert/]] as const) {
    const r = run(...args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, usage, args.join(' '));
  }

  // A real conversion and a stage loading it: ONNX Runtime's native library is there and loads.
  const model = path.join(tmp, 'model');
  fs.mkdirSync(model);
  await writeTinyModel(model);
  const bundles = path.join(tmp, 'bundles');
  const converted = run('convert', '--model', model, '--out', bundles, '--stages', '2', '--stage', '1');
  assert.equal(converted.status, 0, converted.stderr);
  const worker = spawn('sh', [ENTRYPOINT, 'worker', '--model', path.join(bundles, 'stage-1-of-2'), '--host', '127.0.0.1', '--port', '0', '--threads', '1'], { cwd: clone, env: { ...process.env, CHATGLM_CACHE_DIR: path.join(tmp, 'cache') } });
  try {
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`no ready line within 60 s:\n${out}\n${err}`)), 60_000);
      worker.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('CHATGLM_READY'));
        if (line) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      worker.stderr.on('data', (d: Buffer) => void (err += d.toString()));
      worker.once('exit', (code) => reject(new Error(`the worker exited with ${code}:\n${out}\n${err}`)));
    });
    assert.match(ready, /"service":"stage"/);
  } finally {
    worker.kill('SIGTERM');
  }
});
