import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChatGLMTokenizer, TokenizerError, processResponse } from '../src/index.ts';
import { PieceType } from '../src/sentencepiece/model-proto.ts';
import { randomInt, seededRandom } from './random.ts';
import { editPieces, testTokenizer, variantModel } from './test-models.ts';

const tokenizer = await testTokenizer();
const id = (piece: string): number => {
  const found = tokenizer.pieceToId(piece);
  assert.ok(found !== undefined, `test model lacks ${piece}`);
  return found;
};
const pieces = (ids: readonly number[]): string[] => ids.map((i) => tokenizer.idToPiece(i));
const raw = { cleanUpTokenizationSpaces: false } as const;
const { gMask, sop } = tokenizer.specialTokens;

describe('encode', () => {
  it('appends [gMASK] then <sop>; encodeWithoutSpecialTokens does not', () => {
    assert.deepEqual(tokenizer.encode('你好'), [id('\u2581'), id('你好'), gMask, sop]);
    assert.deepEqual(tokenizer.encodeWithoutSpecialTokens('你好'), [id('\u2581'), id('你好')]);
    assert.deepEqual(tokenizer.encode(''), [gMask, sop]);
  });

  it('encodes "\\n" as <n> and "\\t" as <|tab|>', () => {
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('a\nb\tc')), ['\u2581a', '<n>', 'b', '<|tab|>', 'c']);
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('\n\n')), ['\u2581', '<n>', '<n>']);
  });

  it('encodes a run of k = 2..80 spaces as the single piece <|blank_k|>', () => {
    for (let k = 2; k <= 80; k++) {
      assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens(`a${' '.repeat(k)}b`)), ['\u2581a', `<|blank_${k}|>`, 'b']);
    }
  });

  it('encodes 80q + r spaces as q × <|blank_80|> then <|blank_r|> or ▁', () => {
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens(`a${' '.repeat(163)}b`)), [
      '\u2581a', '<|blank_80|>', '<|blank_80|>', '<|blank_3|>', 'b',
    ]);
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens(`a${' '.repeat(81)}b`)), ['\u2581a', '<|blank_80|>', '\u2581', 'b']);
  });

  it('keeps single spaces as ▁ word boundaries', () => {
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('hello world')), ['\u2581hello', '\u2581world']);
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens(' hi ')), ['\u2581', '\u2581hi', '\u2581']);
  });

  it('falls back to UTF-8 byte pieces for characters outside the vocabulary', () => {
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('👋')), ['\u2581', '<0xF0>', '<0x9F>', '<0x91>', '<0x8B>']);
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('龘')), ['\u2581', '<0xE9>', '<0xBE>', '<0x98>']);
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('𠀀')), ['\u2581', '<0xF0>', '<0xA0>', '<0x80>', '<0x80>']);
  });

  it('folds fullwidth "，！：" to ASCII through the model normaliser (NFKC-like)', () => {
    for (const [full, ascii] of [['，', ','], ['！', '!'], ['：', ':'], ['？', '?'], ['Ａ', 'A']]) {
      assert.deepEqual(tokenizer.encode(`你好${full}`), tokenizer.encode(`你好${ascii}`), full);
    }
    // "。" has no compatibility decomposition and stays itself.
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('你好。')), ['\u2581', '你好', '。']);
  });

  it('treats literal special-token text as plain text, except the whitespace pieces', () => {
    const specials = [
      tokenizer.specialTokens.sop, tokenizer.specialTokens.eop, tokenizer.specialTokens.mask,
      gMask, tokenizer.specialTokens.pad, tokenizer.specialTokens.unk,
    ];
    for (const text of ['<sop>', '[gMASK]', '<eop>', '[MASK]', '<pad>', '<unk>']) {
      const ids = tokenizer.encodeWithoutSpecialTokens(text);
      assert.ok(ids.every((i) => !specials.includes(i)), `${text} gave a special id`);
      assert.equal(tokenizer.decode(ids, raw), text);
    }
    assert.deepEqual(pieces(tokenizer.encodeWithoutSpecialTokens('a<n>b')), ['\u2581a', '<n>', 'b']);
    assert.equal(tokenizer.decode(tokenizer.encode('a<|blank_3|>b')), 'a   b');
  });

  it('segments a ChatGLM prompt like the real model does (docs/model.md §3.6 vector 2 note)', () => {
    const ids = tokenizer.encodeWithoutSpecialTokens('[Round 0]\n问：你好\n[Round 1]');
    // A leading "[" carries the dummy ▁; after <n> it does not; digits are single pieces.
    assert.deepEqual(pieces(ids), ['\u2581[', 'Round', '\u2581', '0', ']', '<n>', '问', ':', '你好', '<n>', '[', 'Round', '\u2581', '1', ']']);
  });

  it('gives the ids the official Python sentencepiece 0.2 gives for the test model', () => {
    // Pinned from `SentencePieceProcessor(model_file=test-tokenizer.model).encode(...)` (Python),
    // an independent build of the same C++ library.
    assert.deepEqual(tokenizer.encodeWithoutSpecialTokens('Hello World! I am icetk.'), [115, 117, 182, 15, 110, 139, 162, 195]);
    assert.deepEqual(tokenizer.encodeWithoutSpecialTokens('你好世界！这里是 icetk。'), [5, 276, 289, 182, 290, 319, 139, 162, 414]);
    assert.deepEqual(
      tokenizer.encodeWithoutSpecialTokens("def main():\n    print('hello world')\t# greeting"),
      [118, 119, 189, 190, 207, 4, 440, 157, 189, 188, 155, 116, 188, 190, 437, 184, 140],
    );
  });
});

describe('decode', () => {
  it('turns <n>, <|tab|> and <|blank_k|> back into whitespace', () => {
    assert.equal(tokenizer.decode([id('\u2581a'), id('<n>'), id('b'), id('<|tab|>'), id('<|blank_7|>'), id('c')]), 'a\nb\t       c');
  });

  it('decodes control pieces to nothing', () => {
    const t = tokenizer.specialTokens;
    assert.equal(tokenizer.decode([t.mask, gMask, t.sMask, t.unused0, sop, t.eop, t.enc, t.dBlock]), '');
    assert.equal(tokenizer.decode([id('\u2581'), id('你好'), gMask, sop, id('。'), t.eop]), '你好。');
  });

  it('drops <pad> even where the model would give it text', async () => {
    // In the test model <pad> is CONTROL (decodes to "" anyway); make it NORMAL so that
    // SentencePiece alone would print "<pad>", and check decode still drops it.
    const padAsText = await ChatGLMTokenizer.load(
      variantModel((m) => editPieces(m, (ps) => ps.map((p) => (p.piece === '<pad>' ? { ...p, type: PieceType.NORMAL, score: -1000 } : p)))),
    );
    const { pad } = padAsText.specialTokens;
    assert.equal(padAsText.pieceType(pad), PieceType.NORMAL);
    assert.equal(padAsText.decode([pad, id('\u2581'), id('你好'), pad, id('你好'), pad]), '你好你好');
    assert.equal(tokenizer.decode([tokenizer.specialTokens.pad, id('\u2581hi')]), 'hi');
  });

  it('joins byte pieces into UTF-8 and gives one U+FFFD per byte of an incomplete sequence', () => {
    const bytes = tokenizer.specialTokens.bytes;
    const wave = [0xf0, 0x9f, 0x91, 0x8b].map((b) => bytes[b]!);
    assert.equal(tokenizer.decode([id('\u2581'), id('你好'), ...wave, id('!')]), '你好👋!');
    // SentencePiece's rule (unlike Python's bytes.decode, which gives one U+FFFD for the pair).
    assert.equal(tokenizer.decode(wave.slice(0, 2)), '\ufffd\ufffd');
    assert.equal(tokenizer.decode([id('\u2581a'), ...wave.slice(0, 3), id('b')]), 'a\ufffd\ufffd\ufffdb');
  });

  it('removes the space before English punctuation by default, as HF does', () => {
    const ids = tokenizer.encode("Hello , world ! it 's ok .");
    assert.equal(tokenizer.decode(ids), "Hello, world! it's ok.");
    assert.equal(tokenizer.decode(ids, raw), "Hello , world ! it 's ok .");
  });

  it('restores the prompt of spec vector 2 after processResponse re-widens folded punctuation', () => {
    const prompt =
      '[Round 0]\n问：你好\n答：你好👋！我是人工智能助手 ChatGLM-6B，很高兴见到你，欢迎问我任何问题。\n[Round 1]\n问：晚上睡不着应该怎么办\n答：';
    const decoded = tokenizer.decode(tokenizer.encode(prompt));
    assert.notEqual(decoded, prompt, 'the normaliser folds ： ！ ，');
    assert.equal(processResponse(decoded), prompt);
  });

  it('rejects ids outside the vocabulary', () => {
    for (const bad of [-1, tokenizer.vocabSize, tokenizer.vocabSize + 200, 1.5, Number.NaN]) {
      assert.throws(
        () => tokenizer.decode([id('a'), bad]),
        (e: unknown) => e instanceof TokenizerError && e.code === 'tokenizer_id_out_of_range',
        String(bad),
      );
    }
    assert.throws(() => tokenizer.idToPiece(tokenizer.vocabSize), TokenizerError);
  });
});

describe('round trip decode(encode(x)) == x', () => {
  const fixed = [
    '', ' ', '  ', 'a', ' a', 'a ', '你好', 'Hello world', 'Hello World! I am icetk.', '你好👋我是人工智能助手',
    "def main():\n    print('hello world')\t# greeting", '\n\n\t\t   \n', `${' '.repeat(241)}x${' '.repeat(81)}`,
    '龘𠀀🙂é ñ Ω', 'a\rb\u0000c\u0001', '<sop>[gMASK]<eop>', '1234567890', 'C:\\path\\to\\file.txt', '《三体》“引号”…—',
  ];
  for (const text of fixed) {
    it(JSON.stringify(text), () => {
      assert.equal(tokenizer.decode(tokenizer.encode(text), raw), text);
    });
  }

  it('holds for 500 random strings over ASCII, CJK, emoji and whitespace', () => {
    const random = seededRandom(2024);
    const pool = [
      ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)),
      ...'你好我是人工智能助手很高兴见到欢迎问题。、《》龘鑫犇', '\n', '\t', ' ', ' ', ' ', '👋', '🙂', 'é', '\u00a0', '\r',
    ];
    for (let n = 0; n < 500; n++) {
      let text = '';
      const len = randomInt(random, 120);
      for (let i = 0; i < len; i++) text += pool[randomInt(random, pool.length)];
      // Literal whitespace-piece names decode as whitespace by design; skip texts that spell one.
      if (/<n>|<\|tab\|>|<\|blank_/.test(text)) continue;
      assert.equal(tokenizer.decode(tokenizer.encode(text), raw), text, JSON.stringify(text));
    }
  });
});
