import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { TEST_TOKENIZER_FIXTURE, buildTestTokenizerModel } from '../src/test-model/index.ts';
import { ModelType, PieceType, parseModelProto } from '../src/sentencepiece/model-proto.ts';
import { NORMAL_TIERS } from '../src/test-model/test-vocabulary.ts';

const model = parseModelProto(buildTestTokenizerModel());
const pieceAt = (id: number) => model.pieces[id];
const idOf = (piece: string): number => model.pieces.findIndex((p) => p.piece === piece);

describe('test tokenizer model', () => {
  it('is byte-for-byte the committed fixture (regenerate with `pnpm write-test-model` in packages/tokenizer)', async () => {
    const path = fileURLToPath(new URL(`../../../${TEST_TOKENIZER_FIXTURE}`, import.meta.url));
    const committed = new Uint8Array(await readFile(path));
    assert.deepEqual(buildTestTokenizerModel(), committed);
  });

  it('is a Unigram model with byte fallback and a fullwidth-folding charsmap', () => {
    assert.equal(model.trainerSpec.modelType, ModelType.UNIGRAM);
    assert.equal(model.trainerSpec.byteFallback, true);
    assert.equal(model.trainerSpec.vocabSize, model.pieces.length);
    assert.ok(model.normalizerSpec.precompiledCharsmap.length > 0);
    assert.equal(model.normalizerSpec.addDummyPrefix, true);
  });

  it('starts like ChatGLM: <unk> <s> </s> <pad> <n> ▁', () => {
    assert.deepEqual(model.pieces.slice(0, 6).map((p) => [p.piece, p.type]), [
      ['<unk>', PieceType.UNKNOWN],
      ['<s>', PieceType.CONTROL],
      ['</s>', PieceType.CONTROL],
      ['<pad>', PieceType.CONTROL],
      ['<n>', PieceType.USER_DEFINED],
      ['\u2581', PieceType.NORMAL],
    ]);
  });

  it('has the 8 control pieces, then <|tab|> and <|blank_2..80|>, then 256 byte pieces, contiguous', () => {
    const mask = idOf('[MASK]');
    const control = ['[MASK]', '[gMASK]', '[sMASK]', '<unused_0>', '<sop>', '<eop>', '<ENC>', '<dBLOCK>'];
    control.forEach((piece, i) => assert.deepEqual(pieceAt(mask + i), { piece, score: 0, type: PieceType.CONTROL }));
    assert.deepEqual(pieceAt(mask + 8), { piece: '<|tab|>', score: 0, type: PieceType.USER_DEFINED });
    for (let k = 2; k <= 80; k++) {
      assert.deepEqual(pieceAt(mask + 7 + k), { piece: `<|blank_${k}|>`, score: 0, type: PieceType.USER_DEFINED });
    }
    const firstByte = mask + 88;
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      assert.deepEqual(pieceAt(firstByte + b), { piece: `<0x${hex}>`, score: 0, type: PieceType.BYTE });
    }
    assert.equal(model.pieces.length, firstByte + 256);
  });

  it('holds every NORMAL piece of the vocabulary tiers with its tier score', () => {
    const normals = model.pieces.filter((p) => p.type === PieceType.NORMAL);
    assert.deepEqual(normals, NORMAL_TIERS.flatMap((t) => t.pieces.map((piece) => ({ piece, score: t.score, type: PieceType.NORMAL }))));
    assert.ok(normals.length >= 300, `only ${normals.length} normal pieces`);
    for (const piece of ['你好', '人工智能', '助手', '。', '▁Hello', 'a', '0', '[']) {
      assert.ok(idOf(piece) > 0, `missing ${piece}`);
    }
  });
});
