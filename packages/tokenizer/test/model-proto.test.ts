import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ModelType, PieceType, parseModelProto, serializeModelProto } from '../src/sentencepiece/model-proto.ts';
import type { SentencePieceModel } from '../src/sentencepiece/model-proto.ts';
import { SentencePieceRuntime } from '../src/sentencepiece/sentencepiece-runtime.ts';
import { buildTestTokenizerModel, buildTestTokenizerModelProto } from '../src/test-model/build-test-model.ts';
import { variantModel } from './test-models.ts';

/** Ids the library gives `text` under a variant of the test model (no ChatGLM pre-processing). */
async function encodeWith(edit: (m: SentencePieceModel) => SentencePieceModel, text: string): Promise<number[]> {
  const runtime = await SentencePieceRuntime.load(variantModel(edit));
  return runtime.encodeIds(text);
}

const model = buildTestTokenizerModelProto();
const idOf = (piece: string): number => model.pieces.findIndex((p) => p.piece === piece);

describe('ModelProto schema', () => {
  it('round-trips the test model through serialize and parse', () => {
    const parsed = parseModelProto(buildTestTokenizerModel());
    assert.deepEqual(parsed, model);
  });

  it('fills absent fields with the proto2 defaults of sentencepiece_model.proto', () => {
    // ModelProto { pieces { piece: "<unk>" type: UNKNOWN } }, nothing else.
    const bytes = Uint8Array.from([0x0a, 0x09, 0x0a, 0x05, ...Buffer.from('<unk>'), 0x18, 0x02]);
    const parsed = parseModelProto(bytes);
    assert.deepEqual(parsed.pieces, [{ piece: '<unk>', score: 0, type: PieceType.UNKNOWN }]);
    assert.deepEqual(parsed.trainerSpec, {
      modelType: ModelType.UNIGRAM,
      vocabSize: 8000,
      treatWhitespaceAsSuffix: false,
      byteFallback: false,
      unkId: 0,
      bosId: 1,
      eosId: 2,
      padId: -1,
      unkSurface: ' \u2047 ',
    });
    assert.equal(parsed.normalizerSpec.addDummyPrefix, true);
    assert.equal(parsed.normalizerSpec.removeExtraWhitespaces, true);
    assert.equal(parsed.normalizerSpec.escapeWhitespaces, true);
    assert.equal(parsed.normalizerSpec.precompiledCharsmap.length, 0);
  });

  it('rejects bytes that are not a protobuf message', () => {
    assert.throws(() => parseModelProto(Uint8Array.from([0x0a, 0xff, 0xff, 0xff])));
  });
});

// Each field number of our schema is checked by changing that field alone and watching the real
// library change its behaviour accordingly. The baseline is the unchanged test model.
describe('field numbers, as the SentencePiece library reads them', () => {
  it('baseline: "你好" is ▁ + 你好, "，" folds to ",", " hi " keeps its spaces', async () => {
    assert.deepEqual(await encodeWith((m) => m, '你好'), [idOf('\u2581'), idOf('你好')]);
    assert.deepEqual(await encodeWith((m) => m, '，'), [idOf('\u2581'), idOf(',')]);
    assert.deepEqual(await encodeWith((m) => m, ' hi '), [idOf('\u2581'), idOf('\u2581hi'), idOf('\u2581')]);
  });

  it('SentencePiece.score = 2: a very low score stops Viterbi choosing the piece', async () => {
    const ids = await encodeWith((m) => ({ ...m, pieces: m.pieces.map((p) => (p.piece === '你好' ? { ...p, score: -100 } : p)) }), '你好');
    assert.deepEqual(ids, [idOf('\u2581'), idOf('你'), idOf('好')]);
  });

  it('SentencePiece.type = 3: an UNUSED piece is never produced', async () => {
    const ids = await encodeWith((m) => ({ ...m, pieces: m.pieces.map((p) => (p.piece === '你好' ? { ...p, type: PieceType.UNUSED } : p)) }), '你好');
    assert.deepEqual(ids, [idOf('\u2581'), idOf('你'), idOf('好')]);
  });

  it('TrainerSpec.model_type = 3: CHAR splits into characters', async () => {
    const ids = await encodeWith((m) => ({ ...m, trainerSpec: { ...m.trainerSpec, modelType: ModelType.CHAR } }), '你好');
    assert.deepEqual(ids, [idOf('\u2581'), idOf('你'), idOf('好')]);
  });

  it('TrainerSpec.byte_fallback = 35: BYTE pieces are refused without it', async () => {
    await assert.rejects(
      SentencePieceRuntime.load(variantModel((m) => ({ ...m, trainerSpec: { ...m.trainerSpec, byteFallback: false } }))),
      (e: Error) => e.message.includes('byte_fallback'),
    );
  });

  it('NormalizerSpec.precompiled_charsmap = 2: without it "，" is not folded', async () => {
    const ids = await encodeWith((m) => ({ ...m, normalizerSpec: { ...m.normalizerSpec, precompiledCharsmap: new Uint8Array() } }), '，');
    assert.deepEqual(ids, [idOf('\u2581'), idOf('<0xEF>'), idOf('<0xBC>'), idOf('<0x8C>')]);
  });

  it('NormalizerSpec.add_dummy_prefix = 3: off means no leading ▁', async () => {
    const ids = await encodeWith((m) => ({ ...m, normalizerSpec: { ...m.normalizerSpec, addDummyPrefix: false } }), '你好');
    assert.deepEqual(ids, [idOf('你好')]);
  });

  it('NormalizerSpec.remove_extra_whitespaces = 4: on drops leading and trailing spaces', async () => {
    const ids = await encodeWith((m) => ({ ...m, normalizerSpec: { ...m.normalizerSpec, removeExtraWhitespaces: true } }), ' hi ');
    assert.deepEqual(ids, [idOf('\u2581hi')]);
  });

  it('NormalizerSpec.escape_whitespaces = 5: off keeps spaces as spaces (bytes here)', async () => {
    const ids = await encodeWith((m) => ({ ...m, normalizerSpec: { ...m.normalizerSpec, escapeWhitespaces: false } }), 'a b');
    assert.deepEqual(ids, [idOf('<0x20>'), idOf('a'), idOf('<0x20>'), idOf('b')]);
  });

  it('serializes deterministically', () => {
    assert.deepEqual(serializeModelProto(model), serializeModelProto(buildTestTokenizerModelProto()));
  });
});
