import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ChatGLMTokenizer, TokenizerError } from '../src/index.ts';
import { TEST_TOKENIZER_FIXTURE, buildTestTokenizerModel } from '../src/test-model/index.ts';
import { PieceType } from '../src/sentencepiece/model-proto.ts';
import { editPieces, testTokenizer, variantModel } from './test-models.ts';

const tokenizer = await testTokenizer();

const SPECIAL_PIECES = {
  unk: '<unk>',
  pad: '<pad>',
  newline: '<n>',
  tab: '<|tab|>',
  dummyPrefix: '\u2581',
  mask: '[MASK]',
  gMask: '[gMASK]',
  sMask: '[sMASK]',
  unused0: '<unused_0>',
  sop: '<sop>',
  eop: '<eop>',
  enc: '<ENC>',
  dBlock: '<dBLOCK>',
} as const;

/** The test model with ChatGLM's control, tab and blank pieces moved to just after "▁". */
function movedSpecialsModel(): Uint8Array {
  return variantModel((m) =>
    editPieces(m, (ps) => {
      const moved = (p: (typeof ps)[number]): boolean =>
        (p.type === PieceType.CONTROL && p.piece !== '<s>' && p.piece !== '</s>' && p.piece !== '<pad>') ||
        p.piece === '<|tab|>' ||
        p.piece.startsWith('<|blank_');
      return [...ps.slice(0, 6), ...ps.filter(moved), ...ps.slice(6).filter((p) => !moved(p))];
    }),
  );
}

describe('special tokens', () => {
  it('names each special id after its piece in the vocabulary', () => {
    for (const [name, piece] of Object.entries(SPECIAL_PIECES)) {
      const specialId = tokenizer.specialTokens[name as keyof typeof SPECIAL_PIECES];
      assert.equal(tokenizer.idToPiece(specialId), piece, name);
      assert.equal(tokenizer.pieceToId(piece), specialId, name);
    }
    for (let k = 2; k <= 80; k++) assert.equal(tokenizer.idToPiece(tokenizer.specialTokens.blanks.get(k)!), `<|blank_${k}|>`);
    assert.equal(tokenizer.specialTokens.blanks.size, 79);
    tokenizer.specialTokens.bytes.forEach((byteId, b) => {
      assert.equal(tokenizer.idToPiece(byteId), `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      assert.equal(tokenizer.pieceType(byteId), PieceType.BYTE);
    });
  });

  it('follows the pieces when they sit at other ids (no numeric constants)', async () => {
    const moved = await ChatGLMTokenizer.load(movedSpecialsModel());
    assert.equal(moved.specialTokens.mask, 6);
    assert.notEqual(moved.specialTokens.gMask, tokenizer.specialTokens.gMask);
    for (const [name, piece] of Object.entries(SPECIAL_PIECES)) {
      assert.equal(moved.idToPiece(moved.specialTokens[name as keyof typeof SPECIAL_PIECES]), piece, name);
    }
    const ids = moved.encode('a\tb  c');
    assert.deepEqual(ids.slice(-2), [moved.specialTokens.gMask, moved.specialTokens.sop]);
    assert.ok(ids.includes(moved.specialTokens.tab) && ids.includes(moved.specialTokens.blanks.get(2)!));
    assert.equal(moved.decode(ids), 'a\tb  c');
  });

  it('reports the vocabulary size as the number of pieces', () => {
    assert.equal(tokenizer.vocabSize, tokenizer.specialTokens.bytes.at(-1)! + 1);
  });
});

describe('loading', () => {
  it('loads from a file path, a file URL and bytes alike', async () => {
    const url = new URL(`../../../${TEST_TOKENIZER_FIXTURE}`, import.meta.url);
    for (const source of [fileURLToPath(url), url, buildTestTokenizerModel()]) {
      const loaded = await ChatGLMTokenizer.load(source);
      assert.deepEqual(loaded.encode('你好 world'), tokenizer.encode('你好 world'));
    }
  });

  it('fails naming the pieces a model lacks', async () => {
    const without = (...names: string[]) =>
      ChatGLMTokenizer.load(variantModel((m) => editPieces(m, (ps) => ps.filter((p) => !names.includes(p.piece)))));
    for (const names of [['[gMASK]'], ['<sop>', '<eop>'], ['<|blank_17|>'], ['\u2581'], ['<0x7F>']]) {
      await assert.rejects(without(...names), (e: unknown) => {
        assert.ok(e instanceof TokenizerError);
        assert.equal(e.code, 'tokenizer_piece_missing');
        for (const name of names) assert.ok(e.message.includes(name), `${e.message} should name ${name}`);
        return true;
      });
    }
  });

  it('fails with tokenizer_model_invalid on bytes that are not a model, or a model SentencePiece refuses', async () => {
    const invalid = (e: unknown) => e instanceof TokenizerError && e.code === 'tokenizer_model_invalid' && !e.retryable;
    await assert.rejects(ChatGLMTokenizer.load(Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f])), invalid);
    // Two <unk> pieces: our schema parses it, SentencePiece rejects it ("unk is already defined").
    const twoUnk = variantModel((m) =>
      editPieces(m, (ps) => ps.map((p) => (p.piece === '<s>' ? { ...p, type: PieceType.UNKNOWN } : p))),
    );
    await assert.rejects(ChatGLMTokenizer.load(twoUnk), (e: unknown) => invalid(e) && /unk/.test((e as Error).message));
  });

  it('keeps several tokenizers apart in one process', async () => {
    const [a, b] = await Promise.all([ChatGLMTokenizer.load(buildTestTokenizerModel()), ChatGLMTokenizer.load(movedSpecialsModel())]);
    const idsA = a.encode('你好\n世界');
    const idsB = b.encode('你好\n世界');
    assert.notDeepEqual(idsA, idsB);
    assert.equal(a.decode(idsA), '你好\n世界');
    assert.equal(b.decode(idsB), '你好\n世界');
    assert.deepEqual(a.encode('你好\n世界'), idsA, 'loading b did not disturb a');
  });
});

describe('performance', () => {
  it('encodes in time linear in the text length', () => {
    const unit = '你好，我是人工智能助手 ChatGLM-6B。\n    def main(): print("hello world")\t';
    const time = (text: string): number => {
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        tokenizer.encode(text);
        best = Math.min(best, performance.now() - start);
      }
      return best;
    };
    const small = unit.repeat(50); // ~3k chars, a long prompt
    const large = unit.repeat(400); // 8x larger
    time(small); // warm up
    const tSmall = time(small);
    const tLarge = time(large);
    // Linear gives a ratio near 8, quadratic near 64; allow noise on a busy 2-core machine.
    assert.ok(tLarge < Math.max(tSmall, 1) * 24, `small ${tSmall.toFixed(2)} ms, large ${tLarge.toFixed(2)} ms`);
    assert.ok(tSmall < 200, `a ${small.length}-char prompt took ${tSmall.toFixed(1)} ms`);
  });
});
