// The P-tuning flags end to end, as users run them: `chatglm chat --ptuning DIR` as a real process,
// and stage workers started with `--ptuning DIR`
// serving through the gateway, against the in-process engine with the same prefix.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { generate, resolveSamplingParams } from '@chatglm/generation';
import { parseGlmConfig } from '@chatglm/glm';
import { ChainSequence } from '@chatglm/runtime';
import { buildChatPrompt, processResponse } from '@chatglm/tokenizer';
import { ChatProcess, replies } from '../../../test/support/chat-process.ts';
import { postJson, startTestCluster, type TestCluster } from '../../../test/support/test-cluster.ts';
import { openLocalModel } from '../../../services/cli/src/local-model.ts';
import { writeTinyModel } from '../../../services/cli/src/default-model.ts';
import { prefixTensors, writePrefixCheckpoint } from './ptuning-support.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-ptuning-flags-'));
const env = { CHATGLM_CACHE_DIR: path.join(tmp, 'cache') };
let modelDir: string;
let prefixDir: string;

before(async () => {
  // The same generator the chat's embedded model and the test cluster use: same config, same weights.
  modelDir = path.join(tmp, 'model');
  fs.mkdirSync(modelDir);
  await writeTinyModel(modelDir, { replies: 'random' });
  const config = parseGlmConfig(JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')));
  const prefixConfig = { ...config, preSeqLen: 8, prefixProjection: true };
  prefixDir = writePrefixCheckpoint(path.join(tmp, 'ptuning'), prefixConfig, prefixTensors(prefixConfig, 77));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function chatReplies(args: string[]): Promise<{ replies: string[]; stderr: string }> {
  // Seeded sampling: the tiny random model's greedy replies repeat one piece whatever the prefix.
  const chat = new ChatProcess(['--model', modelDir, '--seed', '3', '--max-length', '48', ...args], env);
  for (const line of ['你好', 'stop']) chat.send(line);
  assert.equal(await chat.exited, 0, chat.stderr);
  return { replies: replies(chat.stdout), stderr: chat.stderr };
}

test('chatglm chat --ptuning DIR: the prefix changes the reply, and a split into 1-layer stages gives the same one', async () => {
  const plain = await chatReplies([]);
  const whole = await chatReplies(['--ptuning', prefixDir]);
  const split = await chatReplies(['--ptuning', prefixDir, '--layers-per-stage', '1']);
  assert.match(whole.stderr, /P-tuning prefix of 8 from .*ptuning/);
  assert.equal(whole.replies.length, 1);
  assert.notEqual(whole.replies[0], plain.replies[0], 'the prefix changed nothing');
  assert.deepEqual(split.replies, whole.replies);
});

test('chatglm chat --ptuning with the base model directory gives a clear error and exit code 1', async () => {
  const chat = new ChatProcess(['--model', modelDir, '--ptuning', modelDir], env);
  assert.equal(await chat.exited, 1);
  assert.match(chat.stderr, /config\.json has no pre_seq_len: is .* a P-tuning v2 checkpoint/);
});

/** The in-process engine's tokens for '你好' (seeded sampling), with or without the prefix. */
async function engineTokens(withPrefix: boolean): Promise<number[]> {
  const local = await openLocalModel({ modelDir, threads: 1, ...(withPrefix && { prefixDir }) });
  const { tokenizer, chain } = local;
  const seq = new ChainSequence(chain, 'ref', tokenizer.promptMarkers);
  try {
    const params = resolveSamplingParams({ maxNewTokens: 24, seed: 1234n, temperature: 0.95, topP: 0.7 });
    for await (const e of generate(seq, tokenizer.encode(buildChatPrompt([], '你好')), params, {
      vocab: tokenizer.vocab,
      decode: (ids) => tokenizer.decode(ids),
      processResponse,
    })) {
      if (e.type === 'finish') return [...e.tokenIds];
    }
    throw new Error('generate ended without a finish event');
  } finally {
    await seq.release();
    await local.close();
  }
}

test('a 2-stage pipeline whose workers run with --ptuning DIR gives the in-process engine\'s tokens with the same prefix', async () => {
  const reference = await engineTokens(true);
  assert.notDeepEqual(await engineTokens(false), reference, 'the prefix changed nothing');
  const c: TestCluster = await startTestCluster({ stages: 2, replies: 'random', workerArgs: ['--ptuning', prefixDir] });
  try {
    const res = await postJson(`${c.url}/v1/chat/completions`, { messages: [{ role: 'user', content: '你好' }], max_tokens: 24, seed: 1234, temperature: 0.95, top_p: 0.7 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const served = await c.store.read(res.body.id as string);
    assert.deepEqual(served?.tokenIds, reference);
  } catch (err) {
    console.log(c.logs.slice(-40).join('\n'));
    throw err;
  } finally {
    await c.stop();
  }
});
