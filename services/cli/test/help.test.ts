// `chatglm --help` prints the usage and succeeds; an unknown command fails with the usage.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const chatglm = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', ...args], { cwd: ROOT, encoding: 'utf8' });

test('chatglm --help (and -h, help) print the usage on stdout and exit 0', () => {
  for (const flag of ['--help', '-h', 'help']) {
    const r = chatglm(flag);
    assert.equal(r.status, 0, `${flag}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: chatglm up/);
    assert.match(r.stdout, /--ptuning DIR/);
  }
});

test('an unknown command exits 2 naming it', () => {
  const r = chatglm('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});
