// `chatglm chat` end to end, as a user runs it: a real process reading stdin.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ChatProcess, replies } from '../../../test/support/chat-process.ts';
import { writeTinyModel } from '../src/default-model.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-chat-test-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));
const env = { CHATGLM_CACHE_DIR: cacheDir };
const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

// The seed is fixed: the tiny model's replies end after a few tokens, and now and then a random
// seed samples <eop> first (an empty reply, which this test would take for a broken chat).
test("printf '你好\\nclear\\nstop\\n' | pnpm -s chatglm chat --seed 3 prints a reply and exits 0 (embedded model, generated on first use)", () => {
  const out = execFileSync('pnpm', ['-s', 'chatglm', 'chat', '--seed', '3'], { cwd: ROOT, input: '你好\nclear\nstop\n', env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  const [reply] = replies(out);
  assert.ok(reply !== undefined && reply.trim().length > 0, `no reply in:\n${out}`);
  assert.equal(out.split('欢迎使用 ChatGLM-6B').length - 1, 2, 'the welcome is printed again after clear');
  assert.ok(fs.existsSync(path.join(cacheDir, 'default-model-v1', 'model.safetensors')));
});

// A fixed seed makes sampled replies reproducible, so the same prompt gives the same reply.
test('history changes the next reply; clear resets it; a 4-stage split gives the same replies', async () => {
  const run = async (extra: string[]) => {
    const chat = new ChatProcess(['--seed', '3', ...extra], env);
    for (const line of ['你好', '你好', 'clear', '你好', 'stop']) chat.send(line);
    assert.equal(await chat.exited, 0, chat.stderr);
    return replies(chat.stdout);
  };
  const whole = await run([]);
  assert.equal(whole.length, 3);
  assert.notEqual(whole[1], whole[0], 'the second turn sees the first in its prompt (template with history)');
  assert.equal(whole[2], whole[0], 'after clear the same question gets the first answer again');
  const split = await run(['--layers-per-stage', '1']);
  assert.deepEqual(split, whole);
});

test('Ctrl-C stops the current reply and the chat goes on; Ctrl-C at the prompt exits', async () => {
  // Purely random weights almost never pick <eop>: greedy replies run towards max_length.
  const modelDir = path.join(cacheDir, 'long-replies');
  fs.mkdirSync(modelDir);
  await writeTinyModel(modelDir, { replies: 'random' });
  const chat = new ChatProcess(['--model', modelDir, '--temperature', '0', '--max-length', '2048'], env);
  await chat.waitFor(/用户：/);
  chat.send('你好');
  const start = chat.stdout.length;
  await chat.waitFor(/ChatGLM-6B：.{20}/s, start);
  chat.child.kill('SIGINT');
  await chat.waitFor(/\[stopped\]\n\n用户：/, start);
  chat.send('hello');
  await chat.waitFor(/ChatGLM-6B：/, chat.stdout.indexOf('[stopped]'));
  chat.child.kill('SIGINT'); // stops the second reply
  await chat.waitFor(/\[stopped\][^]*\[stopped\]\n\n用户：/, start);
  chat.child.kill('SIGINT'); // no reply running: exits
  assert.equal(await chat.exited, 0);
});

test('a bad --model gives a clear error and exit code 1', async () => {
  const chat = new ChatProcess(['--model', path.join(cacheDir, 'missing')], env);
  assert.equal(await chat.exited, 1);
  assert.match(chat.stderr, /model directory .*missing does not exist/);
});
