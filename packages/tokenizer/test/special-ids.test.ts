import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChatGLMTokenizer } from '../src/index.ts';
import { editPieces, testTokenizer, variantModel } from './test-models.ts';

const tokenizer = await testTokenizer();

/** The test model with ChatGLM's control pieces moved to the front, so every id differs. */
async function movedTokenizer(): Promise<ChatGLMTokenizer> {
  const controls = new Set(['[MASK]', '[gMASK]', '[sMASK]', '<unused_0>', '<sop>', '<eop>', '<ENC>', '<dBLOCK>']);
  return ChatGLMTokenizer.load(
    variantModel((m) =>
      editPieces(m, (ps) => [...ps.slice(0, 4), ...ps.filter((p) => controls.has(p.piece)), ...ps.slice(4).filter((p) => !controls.has(p.piece))]),
    ),
  );
}

describe('promptMarkers', () => {
  it('holds the ids of [MASK], [gMASK] and <sop>', () => {
    const { maskTokenId, gmaskTokenId, bosTokenId } = tokenizer.promptMarkers;
    assert.equal(tokenizer.idToPiece(maskTokenId), '[MASK]');
    assert.equal(tokenizer.idToPiece(gmaskTokenId), '[gMASK]');
    assert.equal(tokenizer.idToPiece(bosTokenId), '<sop>');
    assert.deepEqual(tokenizer.encode('你好').slice(-2), [gmaskTokenId, bosTokenId]);
  });

  it('follows the pieces when the model puts them elsewhere', async () => {
    const moved = await movedTokenizer();
    assert.notEqual(moved.promptMarkers.gmaskTokenId, tokenizer.promptMarkers.gmaskTokenId);
    assert.deepEqual(
      [moved.promptMarkers.maskTokenId, moved.promptMarkers.gmaskTokenId, moved.promptMarkers.bosTokenId].map((id) => moved.idToPiece(id)),
      ['[MASK]', '[gMASK]', '<sop>'],
    );
  });

  it('is frozen', () => {
    assert.ok(Object.isFrozen(tokenizer.promptMarkers));
  });
});

describe('vocab', () => {
  it('holds the vocabulary size, <eop> and the lone ▁', () => {
    const { vocabSize, eopId, forcedTokenId } = tokenizer.vocab;
    assert.equal(vocabSize, tokenizer.vocabSize);
    assert.equal(tokenizer.idToPiece(eopId), '<eop>');
    assert.equal(tokenizer.idToPiece(forcedTokenId), '\u2581');
    assert.equal(forcedTokenId, tokenizer.encodeWithoutSpecialTokens('你好')[0], 'the dummy prefix of a CJK sentence');
  });

  it('follows the pieces when the model puts them elsewhere', async () => {
    const moved = await movedTokenizer();
    assert.notEqual(moved.vocab.eopId, tokenizer.vocab.eopId);
    assert.equal(moved.idToPiece(moved.vocab.eopId), '<eop>');
    assert.equal(moved.idToPiece(moved.vocab.forcedTokenId), '\u2581');
    assert.equal(moved.vocab.vocabSize, moved.vocabSize);
  });

  it('is frozen', () => {
    assert.ok(Object.isFrozen(tokenizer.vocab));
  });
});
