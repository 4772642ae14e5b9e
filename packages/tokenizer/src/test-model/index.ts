/**
 * @chatglm/tokenizer/test-model: the project's own small SentencePiece model, for tests and the
 * embedded default model. It lives behind its own entry point so the package's public face stays
 * the tokenizer itself, and production code that only tokenizes never reaches for test builders.
 *
 * ```ts
 * import { ChatGLMTokenizer } from '@chatglm/tokenizer';
 * import { buildTestTokenizerModel } from '@chatglm/tokenizer/test-model';
 *
 * const tokenizer = await ChatGLMTokenizer.load(buildTestTokenizerModel());
 * ```
 */
export { buildTestTokenizerModel } from './build-test-model.ts';
export { TEST_TOKENIZER_FIXTURE, writeTestTokenizerModel } from './write-test-model.ts';
