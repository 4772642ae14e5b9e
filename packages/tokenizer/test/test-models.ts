/**
 * Shared helpers for the tokenizer tests: the package's test model, and variants of it.
 */
import { ChatGLMTokenizer } from '../src/index.ts';
import { buildTestTokenizerModelProto } from '../src/test-model/build-test-model.ts';
import { serializeModelProto } from '../src/sentencepiece/model-proto.ts';
import type { SentencePieceModel } from '../src/sentencepiece/model-proto.ts';

let shared: Promise<ChatGLMTokenizer> | undefined;

/** One tokenizer over the test model, loaded once per test file. */
export function testTokenizer(): Promise<ChatGLMTokenizer> {
  shared ??= ChatGLMTokenizer.load(serializeModelProto(buildTestTokenizerModelProto()));
  return shared;
}

/** The test model's bytes after `edit` changed its parsed form. */
export function variantModel(edit: (model: SentencePieceModel) => SentencePieceModel): Uint8Array {
  return serializeModelProto(edit(buildTestTokenizerModelProto()));
}

/** A copy of `model` whose pieces went through `edit`. */
export function editPieces(
  model: SentencePieceModel,
  edit: (pieces: SentencePieceModel['pieces']) => SentencePieceModel['pieces'],
): SentencePieceModel {
  return { ...model, pieces: edit(model.pieces) };
}
