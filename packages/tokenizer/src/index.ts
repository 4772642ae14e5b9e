/**
 * @chatglm/tokenizer: ChatGLM-6B's tokenizer, chat prompt template and response clean-up.
 *
 * ```ts
 * import { ChatGLMTokenizer, buildChatPrompt, processResponse } from '@chatglm/tokenizer';
 *
 * const tokenizer = await ChatGLMTokenizer.load('/models/chatglm-6b/ice_text.model');
 * const prompt = buildChatPrompt([['你好', '你好👋！我是人工智能助手 ChatGLM-6B，…']], '晚上睡不着应该怎么办');
 * const ids = tokenizer.encode(prompt);             // ends with [gMASK], <sop>
 * // The model lays the prompt out by tokenizer.promptMarkers; the generator takes tokenizer.vocab
 * // and stops at its eopId.
 * const reply = processResponse(tokenizer.decode(generatedIds));
 * const bytes = tokenizer.tokenBytes(generatedIds[0]!);  // one token's UTF-8, for logprobs
 * ```
 *
 * Tests without the real 2.7 MB model use the package's own small model, which has its own entry
 * point so that it stays out of this one:
 * `import { buildTestTokenizerModel } from '@chatglm/tokenizer/test-model'`, then
 * `await ChatGLMTokenizer.load(buildTestTokenizerModel())`.
 */
export { ChatGLMTokenizer } from './chatglm/chatglm-tokenizer.ts';
export type { DecodeOptions, TokenizerSource } from './chatglm/chatglm-tokenizer.ts';
export { MAX_BLANK_LENGTH, MIN_BLANK_LENGTH } from './chatglm/special-tokens.ts';
export type { ChatGLMSpecialTokens } from './chatglm/special-tokens.ts';
export { preProcessText } from './chatglm/text-pre-process.ts';
export { cleanUpTokenizationSpaces, postProcessText } from './chatglm/text-post-process.ts';
export { buildChatPrompt } from './chatglm/chat-template.ts';
export type { ChatTurn } from './chatglm/chat-template.ts';
export { processResponse } from './chatglm/process-response.ts';
export { PieceType } from './sentencepiece/model-proto.ts';
export { TokenizerError } from './errors.ts';
export type { TokenizerErrorCode } from './errors.ts';
