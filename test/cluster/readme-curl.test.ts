// `chatglm up` (what ./scripts/start runs) brings the cluster up on the embedded default model, the
// README's curl commands work as printed, and Ctrl-C stops every process it started.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../support/redis-server.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const run = promisify(execFile);

function readmeCurlCommands(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Using the cluster'));
  const block = /```bash\n([^]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((l) => l.startsWith('curl '));
}

/** One inline command's raw reply from the Redis on `port`. */
function redisReply(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
    socket.setEncoding('utf8').once('data', (d: string) => {
      socket.destroy();
      resolve(d);
    });
    socket.once('error', reject);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the README curl commands work against `chatglm up`, and Ctrl-C stops the whole cluster', async () => {
  const commands = readmeCurlCommands();
  assert.ok(commands.length >= 9, `expected curl commands for every interface, found ${commands.length}`);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-up-test-'));
  const port = await freePort();
  const redisPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, CHATGLM_CACHE_DIR: cache };
  delete env.REDIS_URL;
  const up = spawn(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', 'up', '--port', String(port), '--redis-port', String(redisPort)], { cwd: ROOT, env });
  let out = '';
  let err = '';
  up.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  up.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 120_000;
    while (!out.includes('Ctrl-C stops everything')) {
      assert.ok(Date.now() < deadline && up.exitCode === null, `the cluster did not come up:\n${out}\n${err.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(out.split('\n').slice(0, 6).join('\n'));
    for (const name of ['redis-server', 'pipeline 0 stage 0', 'pipeline 0 stage 1', 'gateway']) assert.match(out, new RegExp(`${name}\\s+pid \\d+`));
    // The launcher's Redis has a password: a client without it gets nothing done.
    assert.match(await redisReply(redisPort, 'PING'), /^-NOAUTH/);
    assert.doesNotMatch(out, /redis:\/\/:[^*]/, 'the banner masks the password');
    for (const command of commands) {
      const { stdout } = await run('bash', ['-c', command.replaceAll('localhost:8000', `localhost:${port}`)], { timeout: 60_000 });
      assert.ok(stdout.trim().length > 0, `no output from: ${command}`);
      if (command.includes('"stream": true')) assert.match(stdout, /data: \[DONE\]/, command);
      else assert.doesNotThrow(() => JSON.parse(stdout), `not JSON from: ${command}\n${stdout}`);
      if (!command.includes('/chat ') && !command.includes('"stream"')) assert.doesNotMatch(stdout, /"error"/, `${command}\n${stdout}`);
    }
    const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    up.kill('SIGINT');
    assert.equal(await exited, 0, err.slice(-2000));
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} outlived the launcher`);
  } finally {
    if (up.exitCode === null) up.kill('SIGKILL');
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
