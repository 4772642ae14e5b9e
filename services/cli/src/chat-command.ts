// `chatglm chat`: the original cli_demo.py in a terminal. Streams each reply as it is generated,
// keeps the conversation history, `clear` resets it, `stop` exits, Ctrl-C stops the current reply
// (and exits when no reply is running).
import readline from 'node:readline';
import { ChatGlmError } from '@chatglm/common';
import { generate, randomSeed, resolveSamplingParams, type SamplingParams } from '@chatglm/generation';
import { ChainSequence } from '@chatglm/runtime';
import { buildChatPrompt, processResponse, type ChatTurn } from '@chatglm/tokenizer';
import type { LocalModel } from './local-model.ts';

const WELCOME = '欢迎使用 ChatGLM-6B 模型，输入内容即可进行对话，clear 清空对话历史，stop 终止程序\n(Type a message to chat; "clear" resets the history, "stop" exits, Ctrl-C stops a reply.)';
const USER_PROMPT = '\n用户：';
const BOT_PREFIX = '\nChatGLM-6B：';

export interface ChatOptions {
  params: Partial<SamplingParams>;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

export async function runChat(model: LocalModel, options: ChatOptions): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const interactive = Boolean((input as { isTTY?: boolean }).isTTY);
  const rl = readline.createInterface({ input, output, terminal: interactive });
  const { tokenizer } = model;
  let history: ChatTurn[] = [];
  let replying: AbortController | undefined;
  let turn = 0;

  const onInterrupt = () => {
    if (replying) replying.abort();
    else rl.close();
  };
  rl.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);

  output.write(`${WELCOME}\n`);
  rl.setPrompt(USER_PROMPT);
  rl.prompt();
  try {
    for await (const line of rl) {
      const query = line.trim();
      if (!interactive) output.write(`${line}\n`); // echo piped input so the transcript reads like a session
      if (query === 'stop') break;
      if (query === 'clear') {
        history = [];
        if (interactive) output.write('\x1bc');
        output.write(`${WELCOME}\n`);
        rl.prompt();
        continue;
      }
      if (query === '') {
        rl.prompt();
        continue;
      }
      const params = resolveSamplingParams({ seed: randomSeed(), ...options.params });
      const promptIds = tokenizer.encode(buildChatPrompt(history, query));
      if (promptIds.length >= params.maxLength) {
        output.write(`\n[the conversation is ${promptIds.length} tokens, at or over max_length ${params.maxLength}; type "clear" to start over]\n`);
        rl.prompt();
        continue;
      }
      replying = new AbortController();
      const sequence = new ChainSequence(model.chain, `chat-${turn++}`, tokenizer.promptMarkers);
      output.write(BOT_PREFIX);
      try {
        const events = generate(sequence, promptIds, params, {
          vocab: tokenizer.vocab,
          decode: (t) => tokenizer.decode(t),
          processResponse,
          signal: replying.signal,
        });
        for await (const event of events) {
          output.write(event.delta);
          if (event.type === 'finish') {
            if (event.finishReason === 'cancelled') output.write(' [stopped]');
            history.push([query, event.text]);
          }
        }
        output.write('\n');
      } catch (err) {
        output.write(`\n[error: ${err instanceof ChatGlmError || err instanceof Error ? err.message : String(err)}]\n`);
      } finally {
        replying = undefined;
        await sequence.release();
      }
      rl.prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
  }
}
